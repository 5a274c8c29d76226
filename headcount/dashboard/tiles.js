// The tiles: today's unique players, matches and ad impressions (each today's buckets summed, exact or approximate,
// with its 95 % bounds and as-of time; the last numbers stay, greyed, while the API does not answer), and the range's
// unique players (each player counted once over the whole range).
import { api, reportPageError } from "./api.js";
import { formatDay, formatNumber } from "./charts.js";
import { $, SIMULATE_HINT, formatMoment, noteAnswer, page, state } from "./state.js";

const TILES = [
  { id: "players", metric: "active_players" },
  { id: "matches", metric: "matches_played" },
  { id: "ads", metric: "ad_impressions" },
];

export async function refreshTiles() {
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

export async function loadRangeTile(range) {
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
