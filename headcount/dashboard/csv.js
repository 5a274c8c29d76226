// The CSV of each card: the rows of what it drew (state.charts), in the columns it names (the points' by default),
// downloaded by the card's "Download CSV" button.
import { state } from "./state.js";

export const CSV_COLUMNS = ["bucket", "group", "value", "low", "high", "exact", "source", "as_of", "stale", "run_id"];

function csvField(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function downloadCsv(id) {
  const drawn = state.charts[id];
  if (!drawn) return;
  const columns = drawn.columns ?? CSV_COLUMNS;
  const lines = [columns, ...drawn.rows.map((row) => columns.map((column) => row[column]))];
  const blob = new Blob([lines.map((fields) => fields.map(csvField).join(",")).join("\r\n") + "\r\n"], {
    type: "text/csv;charset=utf-8",
  });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `headcount-${drawn.metric}${drawn.group ? `-${drawn.group}` : ""}-${drawn.from}-to-${drawn.to}.csv`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

document.querySelectorAll("[data-chart]").forEach((card) =>
  card.querySelector(".csv").addEventListener("click", () => downloadCsv(card.dataset.chart)),
);
