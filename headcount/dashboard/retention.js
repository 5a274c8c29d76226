// The retention triangle: a row per cohort (the day its new players first played, and how many they were) and a
// column per k of the metric's `returned_after` (D+1, D+7, D+30): the share of the cohort that played again on day
// D+k, coloured on one heat scale. Exact cells (the nightly batch) are plain; approximate ones (Theta sketches of the
// real-time layer) hatched, in italics with "≈", their 95 % bounds in the tooltip; cells without a number (their day
// still to come, or a cohort day the nightly job skipped while it published D+k) empty.
import { formatDay, formatNumber, formatPercent } from "./charts.js";

const rates = new Intl.NumberFormat(undefined, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });
const formatRate = (rate) => rates.format(rate); // one decimal always: the columns line up

export const MAX_COHORTS = 60; // the range's last 60 cohort days: a longer triangle is no longer read
export const CSV_COLUMNS = [
  "cohort", "group", "size", "size_low", "size_high", "size_exact", "size_source",
  "k", "day", "value", "rate", "low", "high", "exact", "source", "as_of", "stale",
];
const COLD = [239, 246, 255]; // the heat scale: a rate of 0 …
const HOT = [30, 64, 175]; // … up to the table's highest rate

/** A cell of the answer as it is drawn: "exact", "approximate", "unknown" (no number: empty) or "none" (no data). */
export function cellKind(cell) {
  if (cell.value === null || cell.value === undefined) return "unknown";
  if (cell.source === "none" || cell.rate === null) return "none";
  return cell.exact ? "exact" : "approximate";
}

/**
 * Draws the answer's cohorts (the newest first) as a table in `target`. `moment(iso)` formats an as-of time; `today`
 * (the reporting zone's date) tells a cell whose day is still to come from one nobody can fill any more.
 * Returns the CSV rows (a row per cell), the legend and how many cells of each kind were drawn.
 */
export function retentionTable(target, answer, { moment, today }) {
  const how = { moment, today };
  const ks = answer.returned_after ?? answer.cohorts[0]?.returned.map((c) => c.k) ?? [];
  const cohorts = [...answer.cohorts].sort((a, b) => b.day.localeCompare(a.day) || (a.group ?? "").localeCompare(b.group ?? ""));
  const known = cohorts.flatMap((c) => c.returned.filter((cell) => ["exact", "approximate"].includes(cellKind(cell))));
  const hottest = Math.max(0.05, ...known.map((cell) => cell.rate));
  const counts = { exact: 0, approximate: 0, unknown: 0, none: 0 };

  const table = document.createElement("table");
  table.className = "triangle";
  const head = table.createTHead().insertRow();
  head.append(th("cohort", "the day the cohort's players first played"), th("new players", "the cohort's size"));
  for (const k of ks) head.append(th(`D+${k}`, `the share of the cohort that played again ${k} day${k > 1 ? "s" : ""} later`));
  const body = table.createTBody();
  for (const cohort of cohorts) {
    const row = body.insertRow();
    const day = row.insertCell();
    day.className = "cohort-day";
    day.textContent = `${formatDay(cohort.day, "row")}${cohort.group !== undefined ? ` · ${cohort.group}` : ""}`;
    day.title = formatDay(cohort.day);
    row.append(sizeCell(cohort, how));
    for (const k of ks) {
      const cell = cohort.returned.find((c) => c.k === k);
      const td = cell ? rateCell(cohort, cell, hottest, how) : emptyCell(`D+${k}: not in the answer`);
      counts[td.dataset.kind] += 1;
      row.append(td);
    }
  }
  target.replaceChildren(table);

  const rows = cohorts.flatMap((cohort) =>
    cohort.returned.map((cell) => ({
      cohort: cohort.day,
      group: cohort.group,
      size: cohort.size.value,
      size_low: cohort.size.low,
      size_high: cohort.size.high,
      size_exact: cohort.size.exact,
      size_source: cohort.size.source,
      ...cell,
    })),
  );
  const sample = (kind, text, label) =>
    `<span class="key-item"><span class="cell-sample cell-${kind}"${kind === "unknown" ? "" : ` style="background-color: ${heatColor(0.5)}"`}>${text}</span>${label}</span>`;
  const legend = [
    `<span class="key-item"><span class="heat-scale" aria-hidden="true"></span>0 – ${formatPercent(hottest)} of the cohort</span>`,
    sample("exact", "", "exact (nightly batch)"),
    sample("approximate", "≈", "hatched, ≈: approximate (real-time); point at it for its bounds"),
    sample("unknown", "", "empty: not known (yet)"),
  ].join("");
  return { rows, legend, counts, cohorts: cohorts.length };
}

/** The heat scale's colour at `heat` (0 to 1). */
function heatColor(heat) {
  return `rgb(${COLD.map((c, i) => Math.round(c + (HOT[i] - c) * heat)).join(", ")})`;
}

function th(text, title) {
  const cell = document.createElement("th");
  cell.scope = "col";
  cell.textContent = text;
  cell.title = title;
  return cell;
}

function emptyCell(title) {
  const td = document.createElement("td");
  td.className = "cell cell-unknown";
  td.dataset.kind = "unknown";
  td.title = title;
  return td;
}

/** "95 %: 221 – 259" when the bounds differ from the value. */
const bounds = (figure) => (figure.high > figure.low ? ` (95 %: ${formatNumber(figure.low)} – ${formatNumber(figure.high)})` : "");

function freshness(figure, { moment }) {
  if (figure.exact) return "exact (nightly batch)";
  const behind = figure.stale ? "; the real-time shards are behind" : "";
  return `approximate (real-time sketches${figure.as_of ? `, as of ${moment(figure.as_of)}` : ""}${behind})`;
}

function sizeCell(cohort, how) {
  const { size } = cohort;
  const td = document.createElement("td");
  const kind = size.value === null ? "unknown" : size.source === "none" ? "none" : size.exact ? "exact" : "approximate";
  td.className = `cohort-size cell-${kind}`;
  td.dataset.kind = kind;
  if (kind === "unknown" || kind === "none") {
    td.textContent = kind === "none" ? "0" : "";
    td.title = kind === "none" ? "no data for this day" : "not known yet";
    return td;
  }
  td.textContent = `${kind === "approximate" ? "≈ " : ""}${formatNumber(size.value)}`;
  td.title = `${formatNumber(size.value)} new players on ${formatDay(cohort.day)}${bounds(size)}: ${freshness(size, how)}`;
  return td;
}

function rateCell(cohort, cell, hottest, how) {
  const kind = cellKind(cell);
  const label = `D+${cell.k}, ${formatDay(cell.day)}`;
  if (kind === "unknown") {
    // a past day without a number: D+k is published (its real-time players gone) but the cohort's day is not
    const why =
      !how.today || cell.day > how.today
        ? "not known yet (the day has not come)"
        : "not known: the nightly job has published that day but not the cohort's day; running it for the cohort's day fills the cell";
    return emptyCell(`${label}: ${why}`);
  }
  const td = document.createElement("td");
  td.className = `cell cell-${kind}`;
  td.dataset.kind = kind;
  if (kind === "none") {
    td.textContent = "–";
    td.title = `${label}: ${cohort.size.value ? "no data" : "no new players that day"}`;
    return td;
  }
  const heat = Math.min(1, cell.rate / hottest);
  td.style.backgroundColor = heatColor(heat);
  if (heat > 0.55) td.classList.add("cell-dark");
  const approximate = kind === "approximate";
  const text = document.createElement("span"); // approximate: on a pale chip, readable over the hatching
  text.textContent = `${approximate ? "≈ " : ""}${formatRate(cell.rate)}`;
  td.append(text);
  const ofSize = `${approximate || !cohort.size.exact ? "≈ " : ""}${formatNumber(cohort.size.value)}`;
  td.title =
    `${label}: ${approximate ? "≈ " : ""}${formatNumber(cell.value)}${bounds(cell)} of the ${ofSize} new players of ` +
    `${formatDay(cohort.day)} played again, ${formatRate(cell.rate)}: ${freshness(cell, how)}`;
  return td;
}
