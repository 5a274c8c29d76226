// The game KPIs' cards: their titles from the metrics found by kind (kpis.js), the lines of several metrics on one
// chart (DAU/WAU/MAU, stickiness) and the retention triangle of the range's last cohorts (drawn by retention.js),
// with its metric picker and the cell under the cursor in words.
import { answersFor, showCardState, showReadout } from "./cards.js";
import { formatNumber, linesChart } from "./charts.js";
import { CSV_COLUMNS } from "./csv.js";
import { kpiNotes } from "./kpis.js";
import { addDays, chosenRange, daysIn } from "./range.js";
import { CSV_COLUMNS as RETENTION_COLUMNS, MAX_COHORTS, retentionTable } from "./retention.js";
import { $, SIMULATE_HINT, formatMoment, page, state } from "./state.js";

/** The KPI cards' titles and subtitles, from the metrics found. */
export function describeKpis() {
  for (const [selector, text] of Object.entries(kpiNotes(state.kpis))) $(selector).textContent = text;
}

export function fillRetentionPicker() {
  const list = state.kpis.retention;
  const chosen = page.retentionMetric.value;
  page.retentionMetric.replaceChildren(...list.map((m) => new Option(m.name, m.name)));
  if (list.some((m) => m.name === chosen)) page.retentionMetric.value = chosen;
  page.retentionMetricLabel.hidden = list.length < 2;
}

page.retentionMetric.addEventListener("change", () => {
  const range = chosenRange();
  if (range) loadRetention(range);
});

/** Several metrics of a range as lines of one chart (`chart.lines()`: their names, labels and colours). */
export async function loadLines(chart, range) {
  const card = $(`[data-chart="${chart.id}"]`);
  const lines = chart.lines();
  if (!lines.length) {
    showCardState(card, "error", chart.missing);
    return;
  }
  const answers = await answersFor(card, lines.map((l) => [`v1/metrics/${encodeURIComponent(l.name)}`, range]));
  if (!answers) return;
  const drawnLines = lines.map((l, i) => ({ ...l, points: answers[i].points }));
  let drawn = null;
  const onHover = (idx) => drawn && showReadout(card, drawn, idx);
  const plotted = linesChart(card.querySelector(".plot"), drawnLines, { onHover, format: chart.format });
  drawn = {
    ...range,
    ...plotted,
    metric: lines.map((l) => l.name).join("-"),
    group: "",
    format: chart.format,
    lines: drawnLines,
    buckets: drawnLines[0].points.map((p) => p.bucket),
    rows: drawnLines.flatMap((l) => l.points.map((p) => ({ metric: l.name, ...p }))),
    columns: ["metric", ...CSV_COLUMNS],
  };
  state.charts[chart.id] = drawn;
  card.querySelector(".key").innerHTML = drawn.legend;
  const empty = drawn.rows.every((p) => p.source === "none" || p.value === null);
  showCardState(card, empty ? "empty" : "ready", empty ? `No events in this range yet: ${SIMULATE_HINT}` : "", true);
  showReadout(card, drawn, null);
}

/** The retention triangle of the range's last cohorts (at most MAX_COHORTS days). */
export async function loadRetention(range) {
  const card = $('[data-chart="retention"]');
  const name = page.retentionMetric.value;
  if (!name) {
    showCardState(
      card,
      "error",
      "The catalog has no retention metric (kind retention, of a new players metric): add one to headcount/catalog.json.",
    );
    return;
  }
  const from = daysIn(range.from, range.to) > MAX_COHORTS ? addDays(range.to, -(MAX_COHORTS - 1)) : range.from;
  const answers = await answersFor(card, [[`v1/retention/${encodeURIComponent(name)}`, { from, to: range.to }]]);
  if (!answers || !state.catalog) return; // (a sign-in meanwhile: the catalog is being read again)
  const [answer] = answers;
  const drawn = retentionTable(card.querySelector(".triangle-scroll"), answer, {
    moment: (iso) => formatMoment(iso, { ago: false }),
    today: state.today,
  });
  state.charts.retention = { ...drawn, metric: name, from, to: range.to, group: "", columns: RETENTION_COLUMNS };
  const metric = state.catalog.get(name);
  const days = daysIn(from, range.to);
  card.querySelector(".sub").textContent =
    `${name}: of each day's new players (${metric?.of ?? "new"}), the share who played again k days later; ` +
    `${formatNumber(days)} cohort${days > 1 ? "s" : ""}${from === range.from ? "" : ` (the range's last ${MAX_COHORTS} days)`}, the newest first`;
  card.querySelector(".key").innerHTML = drawn.legend;
  const readout = card.querySelector(".readout");
  readout.textContent = readout.title = "Point at a cell for its numbers and bounds.";
  const empty = answer.cohorts.every((c) => c.size.source === "none" || !c.size.value);
  showCardState(card, empty ? "empty" : "ready", empty ? `No new players in these cohorts yet: ${SIMULATE_HINT}` : "", true);
}

$('[data-chart="retention"]').addEventListener("mouseover", (event) => {
  const cell = event.target.closest("td");
  if (!cell?.title) return;
  const readout = event.currentTarget.querySelector(".readout");
  readout.textContent = readout.title = cell.title;
});
