// The analysts' dashboard, its entry point: has the analyst sign in, then shows today's tiles (refreshed every
// 15 s) and the charts of the chosen range, each with the CSV of what it draws: the counts, then the game KPIs
// (DAU/WAU/MAU, stickiness, new players, the retention triangle), whose metrics it finds by kind in the catalog.
// Here: the refreshing, the catalog, and drawing the whole range again when it changes. The other modules:
// auth.js (the session: tokens of the stack's user pool, in memory only), sign-in.js (its dialog and the top bar's
// buttons), api.js (the API client), state.js (the page's elements and what it knows), zones.js (the zone picker),
// tiles.js, range.js,
// cards.js (the range's charts), kpi-cards.js (the game KPIs' cards), csv.js, ingest-keys.js and notifications.js
// (the admins' panels: the ingest keys; the digests, alerts and what was sent);
// charts.js, kpis.js and retention.js draw the plots, find the KPIs in the catalog and draw the retention triangle.
import { api, reportPageError, showBanner } from "./api.js";
import { finishFederatedSignIn, hasSettings, signedIn, useSettings } from "./auth.js";
import { CHARTS, DRAWABLE, fillMetricPicker, loadChart, pickExplore } from "./cards.js";
import { formatDay, formatNumber } from "./charts.js";
import "./csv.js";
import { listenForIngestKeys } from "./ingest-keys.js";
import { describeKpis, fillRetentionPicker, loadLines, loadRetention } from "./kpi-cards.js";
import { findKpis } from "./kpis.js";
import { listenForNotifications, refreshFailures } from "./notifications.js";
import { chosenRange, daysIn, setLastDays } from "./range.js";
import { MAX_COHORTS } from "./retention.js";
import { askToSignIn, describe, listenForSignIn, showSession } from "./sign-in.js";
import { $, MARKS, page, state } from "./state.js";
import { loadRangeTile, refreshTiles } from "./tiles.js";
import { listenForZone, useRememberedZone } from "./zones.js";

const REFRESH_MS = 15_000;
const CHART_REFRESH_TICKS = 4; // while the range ends today, the charts are drawn again every 4th refresh (a minute)
const DEFAULT_RANGE_DAYS = 30;

// ---- refreshing ----------------------------------------------------------------------------------------------------

async function start() {
  clearTimeout(state.timer);
  if (!signedIn()) {
    if (!(await loadSignInSettings())) {
      state.timer = setTimeout(start, REFRESH_MS); // the banner says why; asked again in 15 s
      return;
    }
    let message = "";
    try {
      if (await finishFederatedSignIn()) showSession(); // back from the company's sign-in, with a code
    } catch (error) {
      message = describe(error);
    }
    if (!signedIn()) {
      askToSignIn(message);
      return;
    }
  }
  refresh(true).then(schedule);
}

/** The user pool to sign in to (GET v1/auth/config, public), once. */
async function loadSignInSettings() {
  if (hasSettings()) return true;
  try {
    useSettings(await api("v1/auth/config", {}, { signedIn: false }));
    return true;
  } catch (error) {
    if (!reportPageError(error)) showBanner(`The API could not say how to sign in (${error.code}: ${error.message}).`);
    return false;
  }
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(async () => {
    state.ticks += 1;
    const waiting = document.hidden || page.signIn.open; // nobody looking, or no session the API takes
    if (!waiting) await refresh(state.ticks % CHART_REFRESH_TICKS === 0 && page.to.value >= state.today);
    schedule();
  }, REFRESH_MS);
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && state.catalog && signedIn()) refresh(false);
});

/** The tiles, and the charts too when asked (or when the catalog has only just been read). */
async function refresh(charts) {
  let linked = false;
  const first = !state.catalog; // the first read since signing in: its range's drawing is marked
  if (first) {
    performance.mark(MARKS.reading);
    useRememberedZone(); // this person's, before the first read
    if (!(await loadCatalog())) return;
    charts = true;
    linked = followLink(); // a message's link: its metric and days, once signed in
  }
  if (charts || state.ticks % CHART_REFRESH_TICKS === 0) refreshFailures(); // the admins' failed deliveries
  await refreshTiles();
  if (!state.today) return;
  if (!page.from.value || !page.to.value) setLastDays(DEFAULT_RANGE_DAYS);
  if (charts) loadRange({ marked: first });
  if (linked) showLinked();
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

// ---- a message's link --------------------------------------------------------------------------------------------

/** The digests' and alerts' links end in #metric=<name>&from=YYYY-MM-DD&to=YYYY-MM-DD[&group=G]: the range set to
 * those days, the Explore card to that metric (and group). True when the address has such a fragment. */
function followLink() {
  const link = new URLSearchParams(location.hash.slice(1));
  const metric = link.get("metric");
  if (!metric && !link.has("from")) return false;
  const day = /^\d{4}-\d{2}-\d{2}$/;
  const [from, to] = [link.get("from") ?? "", link.get("to") ?? ""];
  if (day.test(from) && day.test(to)) {
    page.from.value = from;
    page.to.value = to;
  }
  if (metric && !pickExplore(metric, link.get("group") ?? "")) {
    page.exploreAbout.textContent = `The link names ${metric}, which Explore cannot draw (not in the catalog?).`;
  }
  return true;
}

function showLinked() {
  $('[data-chart="explore"]').scrollIntoView({ block: "center" });
}

window.addEventListener("hashchange", () => {
  if (!state.catalog || !followLink()) return;
  loadRange();
  showLinked();
});

// ---- the range -----------------------------------------------------------------------------------------------------

page.quick.forEach((button) =>
  button.addEventListener("click", () => {
    if (!state.today) return;
    setLastDays(Number(button.dataset.days));
    loadRange();
  }),
);
[page.from, page.to].forEach((input) => input.addEventListener("change", () => loadRange()));

/** The range's tile, charts and triangle; `marked`: the performance mark "drawn" once all of them are (MARKS). */
function loadRange({ marked = false } = {}) {
  const range = chosenRange();
  if (!range || !state.catalog) return;
  const days = daysIn(range.from, range.to);
  page.rangeLabel.textContent = `${formatDay(range.from)} – ${formatDay(range.to)} (${formatNumber(days)} day${days > 1 ? "s" : ""})`;
  page.kpiLabel.textContent = `the same range; the retention of its last ${MAX_COHORTS} cohorts at most`;
  const drawing = [
    loadRangeTile(range),
    ...CHARTS.map((chart) => (chart.lines ? loadLines(chart, range) : loadChart(chart, range))),
    loadRetention(range),
  ];
  if (marked) {
    Promise.allSettled(drawing).then(() =>
      requestAnimationFrame(() => {
        performance.mark(MARKS.drawn);
        performance.measure(`${MARKS.reading} to drawn`, MARKS.reading, MARKS.drawn);
      }),
    );
  }
}

// ---- the page's other buttons --------------------------------------------------------------------------------------

listenForSignIn(() => {
  state.catalog = null; // everything again, as this person may see it
  state.latest.clear(); // and the answers still on their way to the last session's requests are not drawn
  start();
});
listenForIngestKeys();
listenForNotifications();
listenForZone(async (endedToday) => {
  const days = daysIn(page.from.value, page.to.value);
  await refreshTiles(); // today in the new zone
  if (!state.today) return;
  if (endedToday) setLastDays(days); // "the last 30 days" stay the last 30 days, the new zone's
  loadRange();
});
page.bannerRetry.addEventListener("click", () => (signedIn() ? refresh(true) : start()));
$("#copy-sql").addEventListener("click", async (event) => {
  await navigator.clipboard.writeText($("#sql-command").textContent);
  event.target.textContent = "Copied";
});

// Earlier versions kept the API key here; a key left behind would outlive the sign-in that replaced it.
localStorage.removeItem("headcount.apiKey");
start();
