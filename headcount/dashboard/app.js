// The analysts' dashboard: asks for the API key once, then shows today's tiles (refreshed every 15 s) and the charts
// of the chosen range, each with the CSV of what it draws: the counts, then the game KPIs (DAU/WAU/MAU, stickiness,
// new players, the retention triangle), whose metrics it finds by kind in the catalog. Every call goes to the API
// beside this page: its folder is the API's root (/ locally, the stage's /prod/ behind API Gateway).
import {
  REST,
  briefValue,
  bucketLabel,
  describeValue,
  formatDay,
  formatNumber,
  formatPercent,
  groupsChart,
  linesChart,
  seriesChart,
  unmount,
} from "./charts.js";
import { describeMetric, findKpis, kpiNotes, valueFormat } from "./kpis.js";
import { CSV_COLUMNS as RETENTION_COLUMNS, MAX_COHORTS, retentionTable } from "./retention.js";

const API = new URL(".", location.href);
const KEY_STORAGE = "headcount.apiKey";
const REFRESH_MS = 15_000;
const CHART_REFRESH_TICKS = 4; // while the range ends today, the charts are drawn again every 4th refresh (a minute)
const MAX_RANGE_DAYS = 400;
const DEFAULT_RANGE_DAYS = 30;
const SIMULATE_HINT = "is the game sending? For test traffic, see headcount simulate.";

const TILES = [
  { id: "players", metric: "active_players" },
  { id: "matches", metric: "matches_played" },
  { id: "ads", metric: "ad_impressions" },
];
const CHARTS = [
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
const DRAWABLE = new Set(["distinct", "count", "rolling", "ratio", "new"]); // series of points (retention is not one)

const $ = (selector) => document.querySelector(selector);
const page = {
  zone: $("#zone"),
  from: $("#from"),
  to: $("#to"),
  quick: [...document.querySelectorAll(".quick button")],
  rangeLabel: $("#range-label"),
  rangeError: $("#range-error"),
  todayDate: $("#today-date"),
  banner: $("#banner"),
  bannerText: $("#banner-text"),
  prompt: $("#key-prompt"),
  keyInput: $("#key-input"),
  keyError: $("#key-error"),
  keyCancel: $("#key-cancel"),
  exploreMetric: $("#explore-metric"),
  exploreGroup: $("#explore-group"),
  exploreGroupLabel: $("#explore-group-label"),
  exploreAbout: $("#explore-about"),
  kpiLabel: $("#kpi-label"),
  retentionMetric: $("#retention-metric"),
  retentionMetricLabel: $("#retention-metric-label"),
};

const state = {
  catalog: null, // Map name -> metric, from GET v1/metrics
  kpis: null, // the KPI charts' metrics, found in the catalog by kind (findKpis)
  timezone: null, // the API's reporting zone
  today: null, // today's date in that zone, from the API's own answer
  ticks: 0,
  timer: null,
  latest: new Map(), // chart id -> its newest request: an older answer arriving late is dropped
  charts: {}, // chart id -> what it drew: {metric, from, to, group, buckets, rows (the CSV), plot (uPlot), legend}
};
window.headcountDashboard = { charts: state.charts }; // for the console, and tests/e2e/test_dashboard.py

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status; // 0: no answer at all
    this.code = code;
  }
}

const apiKey = () => localStorage.getItem(KEY_STORAGE) ?? "";

async function api(path, params = {}) {
  const url = new URL(path, API);
  for (const [name, value] of Object.entries(params)) if (value) url.searchParams.set(name, value);
  let response;
  try {
    response = await fetch(url, { headers: { "x-api-key": apiKey() }, cache: "no-store" });
  } catch {
    throw new ApiError(0, "unreachable", `no answer from ${API.href}`);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = body?.error ?? { code: `http_${response.status}`, message: response.statusText };
    throw new ApiError(response.status, error.code, error.message);
  }
  page.banner.hidden = true;
  return body;
}

/** Errors about the whole page (the key, the API itself) go to the key prompt or the banner: true if this one did. */
function reportPageError(error) {
  if (error.status === 403) {
    askForKey("The API refused the key: enter it again.");
  } else if (error.status === 0) {
    showBanner(
      `The API does not answer at ${API.href}. Is the stack running? Locally start it with headcount up (or make run); ` +
        "deployed, check the ServingApi endpoint of the Headcount stack. Trying again every 15 s.",
    );
  } else if (error.status >= 500) {
    showBanner(
      `The API failed (${error.status} ${error.code}: ${error.message}). Trying again every 15 s; if it persists, ` +
        "read the serve function's log (.headcount/logs/ locally, CloudWatch deployed).",
    );
  } else {
    return false;
  }
  return true;
}

function showBanner(text) {
  page.bannerText.textContent = text;
  page.banner.hidden = false;
}

// ---- the key -------------------------------------------------------------------------------------------------------

function askForKey(message = "") {
  page.keyError.textContent = message;
  page.keyError.hidden = !message;
  page.keyCancel.hidden = !apiKey() || Boolean(message);
  if (page.prompt.open) return; // several calls were refused at once: one prompt
  page.keyInput.value = "";
  page.prompt.showModal();
  page.keyInput.focus();
}

$("#key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = page.keyInput.value.trim();
  if (!key) return;
  localStorage.setItem(KEY_STORAGE, key);
  page.prompt.close();
  state.catalog = null; // everything again, with the new key
  start();
});
page.keyCancel.addEventListener("click", () => page.prompt.close());
page.prompt.addEventListener("cancel", (event) => {
  if (!apiKey() || !page.keyError.hidden) event.preventDefault(); // no key yet, or a refused one: nothing to go back to
});
$("#change-key").addEventListener("click", () => askForKey());
$("#forget-key").addEventListener("click", () => {
  localStorage.removeItem(KEY_STORAGE);
  location.reload(); // and nothing it showed stays on the screen
});

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

function noteAnswer(answer) {
  state.timezone = answer.timezone;
  page.zone.textContent = `times and days in ${answer.timezone}, the API's reporting zone`;
}

function zoneFormat(options) {
  try {
    return new Intl.DateTimeFormat(undefined, { ...options, timeZone: state.timezone ?? "UTC" });
  } catch {
    return new Intl.DateTimeFormat(undefined, { ...options, timeZone: "UTC" }); // a zone this browser does not know
  }
}

/** "22:35:10 UTC (12 s ago)", with the day in front when it is not today. */
function formatMoment(iso, { ago = true } = {}) {
  const moment = new Date(iso);
  const day = zoneFormat({ year: "numeric", month: "2-digit", day: "2-digit" })
    .formatToParts(moment)
    .reduce((parts, { type, value }) => ({ ...parts, [type]: value }), {});
  const date = `${day.year}-${day.month}-${day.day}`;
  const time = zoneFormat({ hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }).format(moment);
  const when = `${date === state.today ? "" : `${formatDay(date, "axis")} `}${time} ${state.timezone ?? "UTC"}`;
  if (!ago) return when;
  const seconds = Math.max(0, Math.round((Date.now() - moment.getTime()) / 1000));
  const since =
    seconds < 120 ? `${seconds} s` : seconds < 7200 ? `${Math.round(seconds / 60)} min` : `${Math.round(seconds / 3600)} h`;
  return `${when} (${since} ago)`;
}

// ---- tiles ---------------------------------------------------------------------------------------------------------

async function refreshTiles() {
  await Promise.all(TILES.map(refreshTile));
}

async function refreshTile({ id, metric }) {
  const tile = $(`[data-tile="${id}"]`);
  if (!state.catalog.has(metric)) {
    renderTile(tile, { message: `${metric} is not in the catalog (GET v1/metrics).` });
    return;
  }
  try {
    const answer = await api(`v1/metrics/${encodeURIComponent(metric)}`, { from: "today" });
    noteAnswer(answer);
    setToday(answer.points[0].bucket.slice(0, 10));
    renderTile(tile, total(answer.points), new Date().toISOString());
  } catch (error) {
    const pageError = reportPageError(error);
    if (pageError && tile.querySelector(".tile-value")) {
      if (!tile.classList.contains("outdated")) tile.querySelector(".tile-asof").textContent += " · not updated: see the message at the top";
      tile.classList.add("outdated"); // the last numbers stay, greyed, until the API answers again
    } else {
      renderTile(tile, { message: pageError ? "Not loaded: see the message at the top." : error.message });
    }
  }
}

function setToday(today) {
  state.today = today;
  page.todayDate.textContent = formatDay(today);
  page.from.max = page.to.max = today;
}

/** Today's points as one number: the sum of its buckets, approximate if any is, as fresh as its oldest part. */
function total(points) {
  const sum = (key) => points.reduce((t, p) => t + p[key], 0);
  const answered = points.filter((p) => p.source !== "none");
  const sources = new Set(answered.map((p) => p.source));
  return {
    value: sum("value"),
    low: sum("low"),
    high: sum("high"),
    exact: points.every((p) => p.exact),
    source: sources.size === 0 ? "none" : sources.size === 1 ? [...sources][0] : "batch and realtime",
    as_of: answered.map((p) => p.as_of).filter(Boolean).sort()[0] ?? null,
    stale: points.some((p) => p.stale),
  };
}

function renderTile(tile, figure, fetchedAt = null, note = "") {
  const title = tile.querySelector("h3").outerHTML;
  tile.classList.remove("outdated");
  if (figure.message) {
    tile.dataset.state = "error";
    tile.innerHTML = `${title}<p class="tile-message"></p>`;
    tile.querySelector(".tile-message").textContent = figure.message;
    return;
  }
  tile.dataset.state = figure.source === "none" ? "empty" : "ready";
  const approximate = !figure.exact && figure.high > figure.low;
  const precision =
    figure.source === "none"
      ? `No events yet: ${SIMULATE_HINT}`
      : figure.exact
        ? "counted exactly by the nightly batch job"
        : approximate
          ? `95 %: ${formatNumber(figure.low)} – ${formatNumber(figure.high)} (±${formatNumber(Math.ceil((figure.high - figure.low) / 2))})`
          : "real-time count, before the nightly job's dedup";
  const freshness =
    figure.source === "none" ? "" : figure.as_of ? `as of ${formatMoment(figure.as_of)}` : `fetched ${formatMoment(fetchedAt)}`;
  const exactness = figure.exact ? '<span class="badge badge-exact">exact</span>' : '<span class="badge badge-approx">approximate</span>';
  const behind = '<span class="badge badge-behind" title="the real-time shards are behind: the newest events are not counted yet">behind</span>';
  tile.innerHTML = `${title}
    <div class="tile-figure">
      <p class="tile-value"></p>
      <p class="tile-badges">${figure.source === "none" ? "" : exactness}${figure.stale ? behind : ""}</p>
    </div>
    <p class="tile-precision"></p>
    <p class="tile-asof"></p>
    ${note ? '<p class="tile-note"></p>' : ""}`;
  tile.querySelector(".tile-value").textContent = formatNumber(figure.value);
  tile.querySelector(".tile-precision").textContent = precision;
  tile.querySelector(".tile-asof").textContent = freshness;
  if (note) tile.querySelector(".tile-note").textContent = note;
}

// ---- the range -----------------------------------------------------------------------------------------------------

function addDays(isoDate, days) {
  const date = new Date(`${isoDate}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

const daysIn = (from, to) => Math.round((Date.parse(to) - Date.parse(from)) / 86_400_000) + 1;

function setLastDays(days) {
  page.to.value = state.today;
  page.from.value = addDays(state.today, -(days - 1));
}

page.quick.forEach((button) =>
  button.addEventListener("click", () => {
    if (!state.today) return;
    setLastDays(Number(button.dataset.days));
    loadRange();
  }),
);
[page.from, page.to].forEach((input) => input.addEventListener("change", () => loadRange()));

/** The chosen range, or null (and why, next to the range's title) when the API would refuse it. */
function chosenRange() {
  const { value: from } = page.from;
  const { value: to } = page.to;
  const problem =
    !from || !to
      ? "Choose both days of the range."
      : from > to
        ? "The range starts after it ends: swap the days."
        : daysIn(from, to) > MAX_RANGE_DAYS
          ? `The API answers at most ${MAX_RANGE_DAYS} days at a time: choose a shorter range.`
          : "";
  page.rangeError.textContent = problem;
  page.rangeError.hidden = !problem;
  page.quick.forEach((b) => {
    const days = Number(b.dataset.days);
    b.setAttribute("aria-pressed", String(to === state.today && from === addDays(to, -(days - 1))));
  });
  return problem ? null : { from, to };
}

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

async function loadRangeTile(range) {
  const tile = $('[data-tile="range"]');
  if (!state.catalog.has("active_players")) {
    renderTile(tile, { message: "active_players is not in the catalog (GET v1/metrics)." });
    return;
  }
  try {
    const answer = await api("v1/metrics/active_players/distinct", range);
    const sources = answer.sources.filter((s) => s !== "none").map((s) => (s === "batch" ? "the nightly batch" : "the real-time layer"));
    const note = `each player counted once, however many days they played${sources.length ? `; from ${sources.join(" and ")}` : ""}`;
    renderTile(tile, { ...answer, source: answer.sources.join(" and ") }, new Date().toISOString(), note);
  } catch (error) {
    renderTile(tile, { message: reportPageError(error) ? "Not loaded: see the message at the top." : error.message });
  }
}

// ---- charts --------------------------------------------------------------------------------------------------------

function fillMetricPicker(list) {
  const chosen = page.exploreMetric.value;
  page.exploreMetric.replaceChildren(...list.map((m) => new Option(m.name, m.name)));
  if (state.catalog.has(chosen)) page.exploreMetric.value = chosen;
  showExploreMetric();
}

/** What the picked metric counts, and its group picker (emptied until its groups are drawn). */
function showExploreMetric() {
  const m = state.catalog.get(page.exploreMetric.value);
  if (!m) return;
  page.exploreAbout.textContent = `${describeMetric(m)}${m.group_by ? ` by ${m.group_by}` : ""}, per ${m.granularity}`;
  fillGroupPicker([]);
}

function fillGroupPicker(groups) {
  const { group_by: by, kind } = state.catalog.get(page.exploreMetric.value);
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
async function answersFor(card, calls) {
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

async function loadChart(chart, range) {
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
  if (answers) drawChart(card, chart, metric, answers[0].points, { ...range, group });
}

function drawChart(card, chart, metric, points, { from, to, group }) {
  const target = card.querySelector(".plot");
  const hourly = metric.granularity === "hour";
  const format = valueFormat(metric, state.catalog);
  let drawn = null;
  const onHover = (idx) => drawn && showReadout(card, drawn, idx);
  const common = { metric: metric.name, from, to, group, format, buckets: [...new Set(points.map((p) => p.bucket))] };
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

function showCardState(card, status, message, keepPlot = false) {
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
function showReadout(card, drawn, idx) {
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

// ---- the game KPIs --------------------------------------------------------------------------------------------------

/** The KPI cards' titles and subtitles, from the metrics found. */
function describeKpis() {
  for (const [selector, text] of Object.entries(kpiNotes(state.kpis))) $(selector).textContent = text;
}

function fillRetentionPicker() {
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
async function loadLines(chart, range) {
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
async function loadRetention(range) {
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
  if (!answers) return;
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

// ---- CSV -----------------------------------------------------------------------------------------------------------

const CSV_COLUMNS = ["bucket", "group", "value", "low", "high", "exact", "source", "as_of", "stale", "run_id"];

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

$("#banner-retry").addEventListener("click", () => refresh(true));
$("#copy-sql").addEventListener("click", async (event) => {
  await navigator.clipboard.writeText($("#sql-command").textContent);
  event.target.textContent = "Copied";
});

start();
