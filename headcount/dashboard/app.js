// The analysts' dashboard, its entry point: asks for the API key once, then shows today's tiles (refreshed every
// 15 s) and the charts of the chosen range, each with the CSV of what it draws: the counts, then the game KPIs
// (DAU/WAU/MAU, stickiness, new players, the retention triangle), whose metrics it finds by kind in the catalog.
// Here: the refreshing, the catalog, and drawing the whole range again when it changes. The other modules:
// api.js (the API client and the key), state.js (the page's elements and what it knows), tiles.js, range.js,
// cards.js (the range's charts), kpi-cards.js (the game KPIs' cards), csv.js; charts.js, kpis.js and retention.js
// draw the plots, find the KPIs in the catalog and draw the retention triangle.
import { askForKey, api, apiKey, listenForKeys, reportPageError, showBanner } from "./api.js";
import { CHARTS, DRAWABLE, fillMetricPicker, loadChart } from "./cards.js";
import { formatDay, formatNumber } from "./charts.js";
import "./csv.js";
import { describeKpis, fillRetentionPicker, loadLines, loadRetention } from "./kpi-cards.js";
import { findKpis } from "./kpis.js";
import { chosenRange, daysIn, setLastDays } from "./range.js";
import { MAX_COHORTS } from "./retention.js";
import { $, page, state } from "./state.js";
import { loadRangeTile, refreshTiles } from "./tiles.js";

const REFRESH_MS = 15_000;
const CHART_REFRESH_TICKS = 4; // while the range ends today, the charts are drawn again every 4th refresh (a minute)
const DEFAULT_RANGE_DAYS = 30;

// ---- refreshing ----------------------------------------------------------------------------------------------------

function start() {
  clearTimeout(state.timer);
  if (!apiKey()) {
    askForKey();
    return;
  }
  refresh(true).then(schedule);
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(async () => {
    state.ticks += 1;
    const waiting = document.hidden || page.prompt.open; // nobody looking, or no key the API takes
    if (!waiting) await refresh(state.ticks % CHART_REFRESH_TICKS === 0 && page.to.value >= state.today);
    schedule();
  }, REFRESH_MS);
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && state.catalog) refresh(false);
});

/** The tiles, and the charts too when asked (or when the catalog has only just been read). */
async function refresh(charts) {
  if (!state.catalog) {
    if (!(await loadCatalog())) return;
    charts = true;
  }
  await refreshTiles();
  if (!state.today) return;
  if (!page.from.value || !page.to.value) setLastDays(DEFAULT_RANGE_DAYS);
  if (charts) loadRange();
}

async function loadCatalog() {
  try {
    const { metrics } = await api("v1/metrics");
    state.catalog = new Map(metrics.map((m) => [m.name, m]));
  } catch (error) {
    if (!reportPageError(error)) showBanner(`The API could not list its metrics (${error.code}: ${error.message}).`);
    return false;
  }
  state.kpis = findKpis(state.catalog);
  fillMetricPicker([...state.catalog.values()].filter((m) => DRAWABLE.has(m.kind)));
  fillRetentionPicker();
  describeKpis();
  return true;
}

// ---- the range -----------------------------------------------------------------------------------------------------

page.quick.forEach((button) =>
  button.addEventListener("click", () => {
    if (!state.today) return;
    setLastDays(Number(button.dataset.days));
    loadRange();
  }),
);
[page.from, page.to].forEach((input) => input.addEventListener("change", () => loadRange()));

function loadRange() {
  const range = chosenRange();
  if (!range || !state.catalog) return;
  const days = daysIn(range.from, range.to);
  page.rangeLabel.textContent = `${formatDay(range.from)} – ${formatDay(range.to)} (${formatNumber(days)} day${days > 1 ? "s" : ""})`;
  page.kpiLabel.textContent = `the same range; the retention of its last ${MAX_COHORTS} cohorts at most`;
  loadRangeTile(range);
  CHARTS.forEach((chart) => (chart.lines ? loadLines(chart, range) : loadChart(chart, range)));
  loadRetention(range);
}

// ---- the page's other buttons --------------------------------------------------------------------------------------

listenForKeys(() => {
  state.catalog = null; // everything again, with the new key
  start();
});
$("#banner-retry").addEventListener("click", () => refresh(true));
$("#copy-sql").addEventListener("click", async (event) => {
  await navigator.clipboard.writeText($("#sql-command").textContent);
  event.target.textContent = "Copied";
});

start();
