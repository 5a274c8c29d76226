// The game KPIs in the catalog (GET v1/metrics), found by kind rather than by name: the daily players metric
// (active_players) and its rolling windows (DAU, WAU, MAU), the ratios of its players metrics (stickiness), its new
// players and their retention; and how each kind of metric is described and its values read.
import { formatDecimal, formatPercent } from "./charts.js";

const LINE_COLORS = ["#2563eb", "#7c3aed", "#0f766e", "#d97706", "#db2777"];
const RATIO_COLORS = ["#db2777", "#0891b2", "#ca8a04"];
const PLAYERS_KINDS = ["distinct", "rolling", "new"]; // metrics that count players

/** "DAU", "WAU", "MAU" for windows of 1, 7 and 28 to 31 days; "14-day" otherwise. */
function windowLabel(days) {
  return days === 1 ? "DAU" : days === 7 ? "WAU" : days >= 28 && days <= 31 ? "MAU" : `${days}-day`;
}

/**
 * The KPI charts' metrics: `activity` the lines of the daily metric and its rolling windows (name, label, days,
 * colour), `ratios` the ungrouped ratios of two of its players metrics, `fresh` its new players metric, `retention`
 * the retention metrics (the ungrouped ones, of `fresh`, first). The daily metric: active_players when it is a daily
 * ungrouped distinct metric, else the one the rolling metrics count.
 */
export function findKpis(catalog) {
  const metrics = [...catalog.values()];
  const daily = (m) => m?.kind === "distinct" && !m.group_by && m.granularity === "day";
  const rolling = metrics.filter((m) => m.kind === "rolling" && !m.group_by);
  const base = daily(catalog.get("active_players"))
    ? "active_players"
    : (rolling.find((m) => daily(catalog.get(m.of)))?.of ?? metrics.find(daily)?.name);
  const retentionOf = (fresh) =>
    metrics
      .filter((m) => m.kind === "retention")
      .sort((a, b) => Boolean(a.group_by) - Boolean(b.group_by) || (b.of === fresh?.name) - (a.of === fresh?.name));
  if (!base) return { activity: [], ratios: [], fresh: null, retention: retentionOf(null) };
  const windows = rolling.filter((m) => m.of === base).sort((a, b) => a.window_days - b.window_days);
  const activity = [{ name: base, days: 1 }, ...windows.map((m) => ({ name: m.name, days: m.window_days }))].map(
    (line, i) => ({ ...line, label: windowLabel(line.days), color: LINE_COLORS[i % LINE_COLORS.length] }),
  );
  const news = metrics.filter((m) => m.kind === "new" && !m.group_by);
  const fresh = news.find((m) => m.of === base) ?? news[0] ?? null;
  const short = (name) => activity.find((l) => l.name === name)?.label ?? (name === fresh?.name ? "new" : name);
  const ofBase = (name) => {
    const m = catalog.get(name);
    return name === base || (["rolling", "new"].includes(m?.kind) && m.of === base);
  };
  const ratios = metrics
    .filter((m) => m.kind === "ratio" && !m.group_by && ofBase(m.numerator) && ofBase(m.denominator))
    .map((m, i) => ({
      name: m.name,
      label: `${short(m.numerator)}/${short(m.denominator)}`,
      color: RATIO_COLORS[i % RATIO_COLORS.length],
      metric: m,
    }));
  return { activity, ratios, fresh, retention: retentionOf(fresh) };
}

/** The KPI cards' titles and subtitles (selector -> text), from the metrics found. */
export function kpiNotes({ activity, ratios, fresh }) {
  const windows = activity.map((l) => (l.days === 1 ? "the day" : `the last ${l.days} days`));
  return {
    '[data-chart="activity"] .sub':
      activity.map((l) => `${l.label}: ${l.name}${l.days > 1 ? ` (${l.days} days)` : ""}`).join(", ") ||
      "no daily players metric in the catalog",
    '[data-chart="activity"] .caution':
      `Never add these lines up: each counts every player once over its own window (${windows.join(", ")}), ` +
      "and the windows overlap.",
    '[data-chart="stickiness"] h3': `Stickiness${ratios.length ? ` (${ratios.map((r) => r.label).join(", ")})` : ""}`,
    '[data-chart="stickiness"] .sub':
      ratios.map(({ name, label, metric }) => `${name} = ${metric.numerator} / ${metric.denominator} (${label})`).join(", ") +
      (ratios.length ? ": the share of the window's players who played that day" : ""),
    '[data-chart="new-players"] .sub': fresh ? `${fresh.name}: players whose first ${fresh.event_type} ever is that day` : "",
  };
}

/** What a metric counts, in words (the Explore chart's subtitle). */
export function describeMetric(m) {
  switch (m.kind) {
    case "distinct":
      return `unique ${m.field} of ${m.event_type} events`;
    case "rolling":
      return `unique ${m.field ?? "players"} of ${m.of} over the ${m.window_days} days ending each day (never summed)`;
    case "new":
      return `players whose first ${m.event_type} event ever is that day (${m.of})`;
    case "ratio":
      return `${m.numerator} / ${m.denominator}`;
    default:
      return `${m.event_type} events`;
  }
}

/** How a metric's values read: counts as integers (null), a ratio of players metrics as a percentage, another ratio as a decimal. */
export function valueFormat(metric, catalog) {
  if (metric.kind !== "ratio") return null;
  const players = (name) => PLAYERS_KINDS.includes(catalog.get(name)?.kind);
  return players(metric.numerator) && players(metric.denominator) ? formatPercent : formatDecimal;
}
