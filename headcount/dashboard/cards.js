// The chart cards of the range: which metric each draws (CHARTS, the game KPIs' found by kind), the Explore card's
// metric and group pickers, the API's answers to a card (a late one of an older request dropped), its plot, legend
// and state, the numbers under the cursor, and the range tile's totals of the count metrics.
import { api, reportPageError } from "./api.js";
import {
  REST,
  briefValue,
  bucketLabel,
  describeValue,
  formatDay,
  formatNumber,
  formatPercent,
  groupsChart,
  seriesChart,
  unmount,
} from "./charts.js";
import { describeMetric, valueFormat } from "./kpis.js";
import { chosenRange } from "./range.js";
import { $, SIMULATE_HINT, formatMoment, noteAnswer, page, state } from "./state.js";

export const CHARTS = [
  { id: "players", metric: "active_players", color: "#2563eb" },
  { id: "matches", metric: "matches_played", color: "#7c3aed", bars: true, total: true },
  { id: "ads", metric: "ad_impressions", color: "#d97706", total: true }, // their sums: the range tile's totals
  { id: "countries", metric: "active_players_by_country" },
  { id: "explore", color: "#0f766e" }, // the metric (and group) of the pickers
  // the game KPIs, their metrics found by kind (findKpis)
  {
    id: "activity",
    lines: () => state.kpis.activity,
    missing: "The catalog has no daily players metric (kind distinct, e.g. active_players) to draw DAU from.",
  },
  {
    id: "stickiness",
    lines: () => state.kpis.ratios,
    format: formatPercent,
    missing:
      "The catalog has no ratio of players metrics (kind ratio, e.g. active_players / monthly_active_players): " +
      "add one to headcount/catalog.json.",
  },
  {
    id: "new-players",
    metric: () => state.kpis.fresh?.name,
    color: "#059669",
    bars: true,
    missing: "The catalog has no new players metric (kind new, of active_players): add one to headcount/catalog.json.",
  },
];
export const DRAWABLE = new Set(["distinct", "count", "rolling", "ratio", "new"]); // series of points (retention is not one)

export function fillMetricPicker(list) {
  const chosen = page.exploreMetric.value;
  page.exploreMetric.replaceChildren(...list.map((m) => new Option(m.name, m.name)));
  if (state.catalog.has(chosen)) page.exploreMetric.value = chosen;
  showExploreMetric();
}

/** The Explore card on a metric (and one of its groups), as a message's link names them; false: none it draws. */
export function pickExplore(name, group = "") {
  const metric = state.catalog.get(name);
  if (!metric || !DRAWABLE.has(metric.kind)) return false;
  page.exploreMetric.value = name;
  showExploreMetric();
  if (group && metric.group_by) {
    fillGroupPicker([group]); // the others come once every group is drawn
    page.exploreGroup.value = group;
  }
  return true;
}

/** What the picked metric counts, and its group picker (emptied until its groups are drawn). */
function showExploreMetric() {
  const m = state.catalog.get(page.exploreMetric.value);
  if (!m) return;
  page.exploreAbout.textContent = `${describeMetric(m)}${m.group_by ? ` by ${m.group_by}` : ""}, per ${m.granularity}`;
  fillGroupPicker([]);
}

function fillGroupPicker(groups) {
  const metric = state.catalog?.get(page.exploreMetric.value);
  if (!metric) return;
  const { group_by: by, kind } = metric;
  const chosen = page.exploreGroup.value;
  page.exploreGroupLabel.hidden = !by;
  page.exploreGroup.replaceChildren(
    new Option(`every ${by}: the 8 largest${kind === "ratio" ? "" : ", the rest summed"}`, ""),
    ...groups.map((g) => new Option(g, g)),
  );
  if (groups.includes(chosen)) page.exploreGroup.value = chosen;
}

page.exploreMetric.addEventListener("change", () => {
  showExploreMetric();
  const range = chosenRange();
  if (range) loadChart(CHARTS.find((c) => c.id === "explore"), range);
});
page.exploreGroup.addEventListener("change", () => {
  const range = chosenRange();
  if (range) loadChart(CHARTS.find((c) => c.id === "explore"), range);
});

/**
 * The API's answers to a card's calls (each `[path, params]`), or null: when one failed (the card then says why) or a
 * newer request of the card came in meanwhile (its answers are the ones to draw).
 */
export async function answersFor(card, calls) {
  const request = {};
  state.latest.set(card.dataset.chart, request);
  card.dataset.state = "loading";
  try {
    const answers = await Promise.all(calls.map(([path, params]) => api(path, params)));
    if (state.latest.get(card.dataset.chart) !== request) return null;
    answers.forEach(noteAnswer);
    return answers;
  } catch (error) {
    if (state.latest.get(card.dataset.chart) === request) {
      const message = reportPageError(error) ? "Not loaded: see the message at the top." : `The API answered: ${error.message}`;
      showCardState(card, "error", message);
    }
    return null;
  }
}

export async function loadChart(chart, range) {
  const card = $(`[data-chart="${chart.id}"]`);
  const explore = chart.id === "explore";
  const name = explore ? page.exploreMetric.value : typeof chart.metric === "function" ? chart.metric() : chart.metric;
  const metric = state.catalog.get(name);
  if (!metric) {
    showCardState(card, "error", chart.missing ?? `${name} is not in the catalog (GET v1/metrics): pick a metric in Explore.`);
    return;
  }
  const group = explore ? page.exploreGroup.value : "";
  const answers = await answersFor(card, [[`v1/metrics/${encodeURIComponent(name)}`, { ...range, group }]]);
  if (answers && state.catalog) drawChart(card, chart, metric, answers[0].points, { ...range, group }); // (not meanwhile signed in again)
}

function drawChart(card, chart, metric, points, { from, to, group }) {
  const target = card.querySelector(".plot");
  const hourly = metric.granularity === "hour";
  const format = valueFormat(metric, state.catalog);
  let drawn = null;
  const onHover = (idx) => drawn && showReadout(card, drawn, idx);
  const buckets = [...new Set(points.map((p) => p.bucket))];
  const common = { metric: metric.name, from, to, group, format, buckets, tz: state.timezone }; // the answer's zone
  if (metric.group_by && !group) {
    const plotted = groupsChart(target, points, { hourly, onHover, format, summable: metric.kind !== "ratio" });
    drawn = { ...common, ...plotted, grouped: true };
    if (chart.id === "explore") fillGroupPicker(plotted.groups);
  } else {
    const plotted = seriesChart(target, points, { hourly, bars: chart.bars, color: chart.color, onHover, format });
    drawn = { ...common, ...plotted, rows: points };
  }
  state.charts[chart.id] = drawn;
  if (chart.total) showRangeTotal(chart.id, points);
  card.querySelector(".key").innerHTML = drawn.legend;
  if (points.every((p) => p.source === "none")) {
    showCardState(card, "empty", `No events in this range yet: ${SIMULATE_HINT}`, true);
  } else {
    showCardState(card, "ready", "", true);
  }
  showReadout(card, drawn, null);
}

export function showCardState(card, status, message, keepPlot = false) {
  card.dataset.state = status;
  card.querySelector(".state").textContent = message;
  if (!keepPlot) {
    const plot = card.querySelector(".plot");
    if (plot) unmount(plot);
    card.querySelector(".triangle-scroll")?.replaceChildren();
    card.querySelector(".key").innerHTML = "";
    const readout = card.querySelector(".readout");
    readout.textContent = readout.title = "";
    delete state.charts[card.dataset.chart];
    const total = $(`[data-total="${card.dataset.chart}"]`);
    if (total) total.textContent = "not loaded";
  }
}

/** A count metric's sum over the range, beside the range's unique players. */
function showRangeTotal(id, points) {
  const sum = points.reduce((t, p) => t + p.value, 0);
  const note = points.every((p) => p.source === "none")
    ? "no data"
    : points.some((p) => p.source === "realtime")
      ? "with real-time days"
      : "exact";
  $(`[data-total="${id}"]`).innerHTML =
    `<span class="total-value">${formatNumber(sum)}</span><span class="total-note">${note}</span>`;
}

/** The numbers under the cursor; without one, the latest bucket that has data. */
export function showReadout(card, drawn, idx) {
  const answered = drawn.rows.filter((r) => r.source !== "none");
  const bucket = idx === null ? answered.at(-1)?.bucket : drawn.buckets[idx];
  const readout = card.querySelector(".readout");
  if (bucket === undefined) {
    readout.textContent = readout.title = "";
    return;
  }
  const rows = drawn.rows.filter((r) => r.bucket === bucket);
  const lead = `${idx === null ? "latest: " : ""}${bucketLabel(bucket)}`;
  let text;
  if (drawn.lines) {
    // short, to fit the lines' values: "≈" marks the approximate ones
    const labels = new Map(drawn.lines.map((l) => [l.name, l.label]));
    const exact = rows.every((r) => r.exact) ? " (exact)" : "";
    const values = rows.map((r) => ` · ${labels.get(r.metric)} ${briefValue(r, drawn.format ?? undefined)}`).join("");
    text = `${idx === null ? "latest: " : ""}${formatDay(bucket, "row")}${exact}${values}`;
  } else if (drawn.grouped) {
    const groups = rows
      .filter((r) => r.group !== undefined)
      .sort((a, b) => (a.group === REST) - (b.group === REST) || b.value - a.value);
    const exactness = rows[0].source === "none" ? "no data" : rows.every((r) => r.exact) ? "exact" : "approximate";
    text = `${lead} (${exactness})${groups.map((r) => ` · ${r.group} ${formatNumber(r.value)}`).join("")}`;
  } else {
    text = `${lead}: ${describeValue(rows[0], drawn.format ?? undefined)}`;
  }
  const freshest = rows.find((r) => r.as_of && !r.exact);
  if (freshest) text += ` · as of ${formatMoment(freshest.as_of, { ago: false })}`;
  if (rows.some((r) => r.stale)) text += " · behind";
  readout.textContent = readout.title = text;
}
