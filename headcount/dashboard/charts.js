// The dashboard's charts: uPlot plots of the API's points, with exact days (the nightly batch) and approximate days
// (the real-time layer) drawn apart, their legends, and the CSV rows of what each plot draws. Values are counts,
// or a ratio's fractions (stickiness) drawn with the formatter given (a percentage).
/* global uPlot */

const BACKGROUND = "#ffffff"; // the cards' background: the fill of hollow (approximate) points
export const REST = "the rest";
const NO_DATA = "#9aa3b2";
const NO_DATA_KEY = "#6b7280"; // the legend's neutral samples of a chart whose lines have colours of their own
const GROUP_COLORS = ["#2563eb", "#ea580c", "#059669", "#db2777", "#7c3aed", "#0891b2", "#ca8a04", "#dc2626"];
const TOP_GROUPS = GROUP_COLORS.length;
const REAL_TIME_SHADE = "rgba(234, 179, 8, 0.12)";
const DAY_STEPS = [1, 2, 7, 14, 28, 56, 91, 182, 364];
const HOUR_STEPS = [1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 672, 1344, 2688];
const PLOTS = new WeakMap(); // plot container -> {plot, observer}

const numbers = new Intl.NumberFormat();
export const formatNumber = (value) => numbers.format(value);
const percents = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
export const formatPercent = (fraction) => percents.format(fraction);
const decimals = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 3 });
export const formatDecimal = (value) => decimals.format(value);

// Day buckets are the reporting zone's dates: formatted as UTC so that no offset moves them to another day.
const dayFormats = {
  axis: new Intl.DateTimeFormat(undefined, { timeZone: "UTC", day: "numeric", month: "short" }),
  row: new Intl.DateTimeFormat(undefined, { timeZone: "UTC", weekday: "short", day: "numeric", month: "short" }),
  long: new Intl.DateTimeFormat(undefined, { timeZone: "UTC", weekday: "short", day: "numeric", month: "short", year: "numeric" }),
};

export function formatDay(isoDate, style = "long") {
  return dayFormats[style].format(new Date(`${isoDate}T00:00:00Z`));
}

/** "Tue, 1 Dec 2026" for a day bucket, "Tue, 1 Dec 2026, 13:00" for an hour bucket (both in the API's zone). */
export function bucketLabel(bucket) {
  const day = formatDay(bucket.slice(0, 10));
  return bucket.length > 10 ? `${day}, ${bucket.slice(11, 16)}` : day;
}

/** The numbers of one point in words: "786 (95 %: 780 – 792, real-time)". */
export function describeValue(point, format = formatNumber) {
  if (point.source === "none") return "no data";
  if (point.value === null) return "no value (its denominator is 0)";
  const value = format(point.value);
  if (point.exact) return `${value} (exact${point.run_id ? `, batch run ${point.run_id}` : ", nightly batch"})`;
  if (point.high > point.low) return `≈ ${value} (95 %: ${format(point.low)} – ${format(point.high)}, real-time)`;
  return `${value} (real-time)`;
}

/** A point's value in a few characters, for a readout of several lines: "812", "≈ 9,200 ±150" (half its 95 % bounds). */
export function briefValue(point, format = formatNumber) {
  if (point.source === "none" || point.value === null) return "no data";
  if (point.exact || !(point.high > point.low)) return `${point.exact ? "" : "≈ "}${format(point.value)}`;
  const half = (point.high - point.low) / 2;
  return `≈ ${format(point.value)} ±${format(format === formatNumber ? Math.ceil(half) : half)}`;
}

function tint(hex, alpha) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

/** The plot's width in CSS pixels per bucket decides whether points are drawn, and how large. */
function pointsFit(u, count) {
  return u.bbox.width / uPlot.pxRatio / count >= 6;
}

function pointSize(width, count) {
  return Math.max(5, Math.min(9, Math.round((width / count) * 0.5)));
}

function xAxis(buckets, hourly) {
  return {
    stroke: "#4b5563",
    grid: { stroke: "#eef0f4" },
    ticks: { stroke: "#d7dbe3" },
    space: hourly ? 56 : 64,
    incrs: hourly ? HOUR_STEPS : DAY_STEPS,
    size: hourly ? 44 : 32,
    values: (u, splits, axisIdx, space, step) =>
      splits.map((i) => {
        const bucket = buckets[i];
        if (bucket === undefined) return "";
        if (!hourly || step >= 24) return formatDay(bucket.slice(0, 10), "axis");
        const time = bucket.slice(11, 16);
        return time === "00:00" ? `${time}\n${formatDay(bucket.slice(0, 10), "axis")}` : time;
      }),
  };
}

/**
 * `format`: the y axis's labels (counts: integers only); a plot without values spans 0 to 1 with one, 0 to 10 without.
 * `ceiling`: the y axis ends there at most (a share's 100 %: bounds above it are cut).
 */
function baseOptions(target, buckets, hourly, onHover, format = null, ceiling = Infinity) {
  const emptyMax = format ? 1 : 10;
  return {
    width: target.clientWidth,
    height: target.clientHeight,
    legend: { show: false },
    cursor: { points: { size: 8 }, drag: { x: false, y: false } },
    scales: {
      x: { time: false, range: () => [-0.5, buckets.length - 0.5] },
      y: { range: (u, min, max) => [0, Math.min(ceiling, max > 0 ? uPlot.rangeNum(0, max, 0.1, true)[1] : emptyMax)] },
    },
    axes: [
      xAxis(buckets, hourly),
      {
        stroke: "#4b5563",
        grid: { stroke: "#eef0f4" },
        ticks: { show: false },
        size: 64,
        values: (u, splits) => splits.map((v) => (format ? format(v) : Number.isInteger(v) ? formatNumber(v) : "")),
      },
    ],
    hooks: { setCursor: [(u) => onHover(u.cursor.idx ?? null)] },
  };
}

/** Draws on `target`, in place of what it showed; the plot follows the container's size. */
function mount(target, opts, data) {
  unmount(target);
  const plot = new uPlot(opts, data, target);
  const observer = new ResizeObserver(() => plot.setSize({ width: target.clientWidth, height: target.clientHeight }));
  observer.observe(target);
  PLOTS.set(target, { plot, observer });
  return plot;
}

export function unmount(target) {
  const mounted = PLOTS.get(target);
  if (mounted) {
    mounted.observer.disconnect();
    mounted.plot.destroy();
    PLOTS.delete(target);
  }
}

/**
 * One series of points (an ungrouped metric, or one group): exact points as a solid line with filled points (or solid
 * bars), approximate ones as a dashed line with hollow points (or pale bars with a dashed outline) and, where their
 * 95 % bounds differ, a shaded band from low to high; buckets without data as grey rings on the axis.
 */
export function seriesChart(target, points, { hourly, bars, color, onHover, format = null }) {
  const count = points.length;
  const { exact, approx, missing, approxIdxs, low, high } = splitLayers(points, !bars);
  const banded = !bars && points.some((p) => !p.exact && p.value !== null && p.high > p.low);
  const size = pointSize(target.clientWidth, count);
  const showPoints = (u) => pointsFit(u, count);
  const barPaths = bars ? uPlot.paths.bars({ size: [0.7, 48] }) : undefined;
  const layers = {
    exact: {
      label: "exact (nightly batch)",
      stroke: color,
      width: 2,
      paths: barPaths,
      fill: bars ? color : undefined,
      points: { show: !bars && showPoints, size, width: 2, stroke: color, fill: color },
    },
    approximate: {
      label: "approximate (real-time)",
      stroke: color,
      width: bars ? 1.5 : 2,
      dash: bars ? [4, 3] : [6, 4],
      paths: barPaths,
      fill: bars ? tint(color, 0.22) : undefined,
      points: {
        show: !bars && showPoints,
        filter: (u, seriesIdx, show) => (show ? approxIdxs : null),
        size,
        width: 2,
        stroke: color,
        fill: BACKGROUND,
      },
    },
    missing: {
      label: "no data",
      stroke: NO_DATA,
      paths: () => null,
      points: { show: showPoints, size: 6, width: 1.5, stroke: NO_DATA, fill: BACKGROUND },
    },
  };
  const bandEdge = { stroke: tint(color, 0.35), width: 1, points: { show: false } };
  const series = [
    {},
    ...(banded ? [{ label: "95 % high", ...bandEdge }, { label: "95 % low", ...bandEdge }] : []),
    layers.exact,
    layers.approximate,
    layers.missing,
  ];
  const data = [points.map((_, i) => i), ...(banded ? [high, low] : []), exact, approx, missing];
  const opts = {
    ...baseOptions(target, points.map((p) => p.bucket), hourly, onHover, format),
    series,
    bands: banded ? [{ series: [1, 2], fill: tint(color, 0.18) }] : [],
  };
  const shown = [
    exact.some((v) => v !== null) && (bars ? swatch.bar(color) : swatch.line(color, false)),
    approxIdxs.length > 0 && (bars ? swatch.bar(color, true) : swatch.line(color, true)),
    banded && swatch.band(color),
    missing.some((v) => v !== null) && swatch.missing(),
  ].filter(Boolean);
  return { plot: mount(target, opts, data), legend: shown.join("") };
}

/**
 * The data of one series' layers: its exact values, its approximate ones (with their 95 % bounds) and the buckets
 * without a value (no data, or a ratio over 0). `bridge`: the dashed line and the band start and end at the
 * neighbouring exact points (drawn there without a hollow point), as a line is drawn.
 */
function splitLayers(points, bridge) {
  const exact = points.map((p) => (p.exact && p.value !== null ? p.value : null));
  const approx = points.map((p) => (!p.exact && p.source !== "none" && p.value !== null ? p.value : null));
  const missing = points.map((p) => (p.source === "none" || p.value === null ? 0 : null));
  const approxIdxs = approx.flatMap((v, i) => (v === null ? [] : [i]));
  const low = points.map((p, i) => (approx[i] === null ? null : p.low));
  const high = points.map((p, i) => (approx[i] === null ? null : p.high));
  if (bridge) {
    for (const i of approxIdxs) {
      for (const j of [i - 1, i + 1]) {
        if (exact[j] != null && approx[j] === null) approx[j] = low[j] = high[j] = exact[j];
      }
    }
  }
  return { exact, approx, missing, approxIdxs, low, high };
}

/**
 * Several metrics over the same days (daily, weekly and monthly active players; ratios), one colour each: like
 * `seriesChart`'s line, solid with filled points where exact, dashed with hollow points where approximate, with a pale
 * band between the 95 % bounds of its approximate days; days where none has a value as grey rings on the axis.
 */
export function linesChart(target, lines, { onHover, format = null }) {
  const buckets = lines[0].points.map((p) => p.bucket);
  const count = buckets.length;
  const size = Math.max(4, pointSize(target.clientWidth, count) - 2);
  const showPoints = (u) => pointsFit(u, count);
  const series = [{}];
  const data = [buckets.map((_, i) => i)];
  const bands = [];
  let [anyExact, anyApproximate] = [false, false];
  for (const { label, color, points } of lines) {
    const { exact, approx, approxIdxs, low, high } = splitLayers(points, true);
    anyExact ||= exact.some((v) => v !== null);
    anyApproximate ||= approxIdxs.length > 0;
    if (points.some((p) => !p.exact && p.value !== null && p.high > p.low)) {
      const edge = { stroke: tint(color, 0.3), width: 1, points: { show: false } };
      bands.push({ series: [series.length, series.length + 1], fill: tint(color, 0.14) });
      series.push({ label: `${label} 95 % high`, ...edge }, { label: `${label} 95 % low`, ...edge });
      data.push(high, low);
    }
    const common = { stroke: color, width: 2 };
    series.push(
      { ...common, label: `${label} exact`, points: { show: showPoints, size, width: 2, stroke: color, fill: color } },
      {
        ...common,
        label: `${label} approximate`,
        dash: [6, 4],
        points: {
          show: showPoints,
          filter: (u, seriesIdx, show) => (show ? approxIdxs : null),
          size,
          width: 2,
          stroke: color,
          fill: BACKGROUND,
        },
      },
    );
    data.push(exact, approx);
  }
  const missing = buckets.map((_, i) => (lines.every((l) => l.points[i].source === "none" || l.points[i].value === null) ? 0 : null));
  series.push({
    label: "no data",
    stroke: NO_DATA,
    paths: () => null,
    points: { show: showPoints, size: 6, width: 1.5, stroke: NO_DATA, fill: BACKGROUND },
  });
  data.push(missing);
  // shares (a percentage whose values never pass 100 %) end at 100 %, however wide an approximate day's bounds
  const share = format === formatPercent && lines.every((l) => l.points.every((p) => p.value === null || p.value <= 1));
  const opts = { ...baseOptions(target, buckets, false, onHover, format, share ? 1 : Infinity), series, bands };
  const shown = [
    ...lines.map(({ label, color }) => swatch.group(color, label, false)),
    anyExact && swatch.line(NO_DATA_KEY, false),
    anyApproximate && swatch.line(NO_DATA_KEY, true),
    bands.length > 0 && swatch.band(NO_DATA_KEY),
    missing.some((v) => v !== null) && swatch.missing(),
  ].filter(Boolean);
  return { plot: mount(target, opts, data), legend: shown.join("") };
}

/**
 * A grouped metric: one line per group for the range's top groups, the other groups summed as "the rest"; days or
 * hours answered by the real-time layer (approximate) are shaded. Returns the rows it draws (the rest as one row a
 * bucket) for the CSV.
 */
export function groupsChart(target, points, { hourly, onHover, format = null, summable = true }) {
  const buckets = [...new Set(points.map((p) => p.bucket))];
  const byBucket = new Map(buckets.map((b) => [b, points.filter((p) => p.bucket === b)]));
  const totals = new Map();
  for (const p of points) if (p.group !== undefined) totals.set(p.group, (totals.get(p.group) ?? 0) + p.value);
  const ranked = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a) || a.localeCompare(b));
  const top = ranked.slice(0, TOP_GROUPS);
  const others = new Set(ranked.slice(TOP_GROUPS)); // summed as the rest, or left out when values are not summable
  const rows = [];
  for (const bucket of buckets) {
    const cells = byBucket.get(bucket);
    rows.push(...cells.filter((p) => p.group === undefined || !others.has(p.group)));
    const rest = cells.filter((p) => others.has(p.group));
    if (rest.length && summable) rows.push(restRow(bucket, rest));
  }
  const names = others.size && summable ? [...top, REST] : top;
  const drawn = new Map(rows.map((r) => [`${r.bucket} ${r.group}`, r.value]));
  const valueOf = (bucket, group) =>
    byBucket.get(bucket).every((p) => p.source === "none") ? null : (drawn.get(`${bucket} ${group}`) ?? 0);
  const colorOf = (i) => (names[i] === REST ? NO_DATA : GROUP_COLORS[i]);
  const realTime = buckets.map((b) => byBucket.get(b).some((p) => p.source === "realtime"));
  const size = pointSize(target.clientWidth, buckets.length);
  const series = [
    {},
    ...names.map((name, i) => ({
      label: name,
      stroke: colorOf(i),
      width: name === REST ? 1.5 : 2,
      dash: name === REST ? [2, 3] : undefined,
      points: { show: (u) => pointsFit(u, buckets.length), size: size - 2, width: 1.5, fill: colorOf(i) },
    })),
  ];
  const data = [buckets.map((_, i) => i), ...names.map((name) => buckets.map((b) => valueOf(b, name)))];
  const base = baseOptions(target, buckets, hourly, onHover, format);
  const opts = { ...base, series, hooks: { ...base.hooks, drawClear: [(u) => shadeRealTime(u, realTime)] } };
  const legend = [
    ...names.map((name, i) => swatch.group(colorOf(i), name, name === REST)),
    realTime.some(Boolean) ? swatch.shade() : "",
  ].join("");
  return { plot: mount(target, opts, data), rows, legend, groups: ranked };
}

function restRow(bucket, cells) {
  const sum = (key) => cells.reduce((total, p) => total + p[key], 0);
  const asOf = cells.map((p) => p.as_of).filter(Boolean).sort()[0] ?? null; // the oldest: every part is at least as fresh
  return {
    bucket,
    group: REST,
    value: sum("value"),
    exact: cells.every((p) => p.exact),
    source: cells[0].source,
    low: sum("low"),
    high: sum("high"),
    as_of: asOf,
    stale: cells.some((p) => p.stale),
  };
}

function shadeRealTime(u, realTime) {
  const { ctx, bbox } = u;
  ctx.save();
  ctx.fillStyle = REAL_TIME_SHADE;
  realTime.forEach((approximate, i) => {
    if (!approximate) return;
    const left = u.valToPos(i - 0.5, "x", true);
    const right = u.valToPos(i + 0.5, "x", true);
    ctx.fillRect(left, bbox.top, right - left, bbox.height);
  });
  ctx.restore();
}

// The legend's samples, drawn as each layer is drawn on the plot.
const swatch = {
  line: (color, approximate) =>
    key(
      `<line x1="1" y1="7" x2="27" y2="7" stroke="${color}" stroke-width="2"${approximate ? ' stroke-dasharray="6 4"' : ""}/>` +
        `<circle cx="14" cy="7" r="3.5" stroke="${color}" stroke-width="2" fill="${approximate ? BACKGROUND : color}"/>`,
      approximate ? "approximate (real-time)" : "exact (nightly batch)",
    ),
  bar: (color, approximate) =>
    key(
      approximate
        ? `<rect x="8" y="2" width="12" height="10" fill="${tint(color, 0.22)}" stroke="${color}" stroke-width="1.5" stroke-dasharray="3 2"/>`
        : `<rect x="8" y="2" width="12" height="10" fill="${color}"/>`,
      approximate ? "approximate (real-time)" : "exact (nightly batch)",
    ),
  band: (color) =>
    key(`<rect x="1" y="2" width="26" height="10" fill="${tint(color, 0.18)}" stroke="${tint(color, 0.35)}"/>`, "95 % bounds of the approximate"),
  missing: () => key(`<circle cx="14" cy="7" r="3" stroke="${NO_DATA}" stroke-width="1.5" fill="${BACKGROUND}"/>`, "no data"),
  group: (color, name, dashed) =>
    key(`<line x1="1" y1="7" x2="27" y2="7" stroke="${color}" stroke-width="2"${dashed ? ' stroke-dasharray="2 3"' : ""}/>`, name),
  shade: () => key(`<rect x="1" y="1" width="26" height="12" fill="${REAL_TIME_SHADE}"/>`, "shaded: real-time (approximate)"),
};

function key(svg, label) {
  const text = label.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<span class="key-item"><svg width="28" height="14" aria-hidden="true">${svg}</svg>${text}</span>`;
}
