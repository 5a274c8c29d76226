// What the dashboard's modules share: the page's elements, what it knows so far (the catalog, the KPIs found in it,
// the API's reporting zone and its today, what each chart drew) and moments written in that zone.
import { formatDay } from "./charts.js";

export const SIMULATE_HINT = "is the game sending? For test traffic, see headcount simulate.";

export const $ = (selector) => document.querySelector(selector);
export const page = {
  zone: $("#zone"),
  zonePick: $("#zone-pick"),
  from: $("#from"),
  to: $("#to"),
  quick: [...document.querySelectorAll(".quick button")],
  rangeLabel: $("#range-label"),
  rangeError: $("#range-error"),
  todayDate: $("#today-date"),
  banner: $("#banner"),
  bannerText: $("#banner-text"),
  bannerRetry: $("#banner-retry"),
  // the session (sign-in.js) and, for admins, the ingest keys (ingest-keys.js) and the notifications (notifications.js)
  session: $("#session"),
  who: $("#who"),
  signOut: $("#sign-out"),
  signIn: $("#sign-in"),
  signInForm: $("#sign-in-form"),
  signInError: $("#sign-in-error"),
  signInSubmit: $("#sign-in-submit"),
  federatedSignIn: $("#federated-sign-in"),
  passwordStep: $("#password-step"),
  userName: $("#user-name"),
  password: $("#password"),
  newPasswordStep: $("#new-password-step"),
  newPassword: $("#new-password"),
  newPasswordAgain: $("#new-password-again"),
  keysOpen: $("#keys-open"),
  keysPanel: $("#keys-panel"),
  keysClose: $("#keys-close"),
  keysMessage: $("#keys-message"),
  keysList: $("#keys-list"),
  keysEmpty: $("#keys-empty"),
  keyCreate: $("#key-create"),
  keyName: $("#key-name"),
  newKey: $("#new-key"),
  newKeyName: $("#new-key-name"),
  newKeyValue: $("#new-key-value"),
  newKeyCopy: $("#new-key-copy"),
  // the admins' notifications: channels, digests, alerts and the deliveries (notifications.js)
  notifyOpen: $("#notify-open"),
  notifyCount: $("#notify-count"),
  notifyPanel: $("#notify-panel"),
  notifyClose: $("#notify-close"),
  notifyFailures: $("#notify-failures"),
  notifyMessage: $("#notify-message"),
  newSecret: $("#new-secret"),
  newSecretName: $("#new-secret-name"),
  newSecretValue: $("#new-secret-value"),
  newSecretCopy: $("#new-secret-copy"),
  deliveriesList: $("#deliveries-list"),
  deliveriesEmpty: $("#deliveries-empty"),
  channelsList: $("#channels-list"),
  channelsEmpty: $("#channels-empty"),
  channelCreate: $("#channel-create"),
  channelKind: $("#channel-kind"),
  channelUrl: $("#channel-url"),
  channelUrlLabel: $("#channel-url-label"),
  channelRecipients: $("#channel-recipients"),
  channelRecipientsLabel: $("#channel-recipients-label"),
  subscriptionsList: $("#subscriptions-list"),
  subscriptionsEmpty: $("#subscriptions-empty"),
  subscriptionCreate: $("#subscription-create"),
  subscriptionChannel: $("#subscription-channel"),
  subscriptionMetrics: $("#subscription-metrics"),
  subscriptionGroups: $("#subscription-groups"),
  subscriptionTime: $("#subscription-time"),
  rulesList: $("#rules-list"),
  rulesEmpty: $("#rules-empty"),
  ruleCreate: $("#rule-create"),
  ruleChannel: $("#rule-channel"),
  ruleMetric: $("#rule-metric"),
  ruleGroup: $("#rule-group"),
  ruleGroupLabel: $("#rule-group-label"),
  ruleCondition: $("#rule-condition"),
  ruleNumber: $("#rule-number"),
  ruleNumberName: $("#rule-number-name"),
  ruleMargin: $("#rule-margin"),
  ruleMarginLabel: $("#rule-margin-label"),
  exploreMetric: $("#explore-metric"),
  exploreGroup: $("#explore-group"),
  exploreGroupLabel: $("#explore-group-label"),
  exploreAbout: $("#explore-about"),
  kpiLabel: $("#kpi-label"),
  retentionMetric: $("#retention-metric"),
  retentionMetricLabel: $("#retention-metric-label"),
};

// The page's performance marks (the browser test and `make bench-dashboard` read them): the sign-in dialog shown, its
// form sent, the first read once signed in (the catalog), and that read's range all drawn (every tile, chart and the
// retention triangle, answered or failed; app.js also measures "headcount:reading to drawn").
export const MARKS = {
  askedToSignIn: "headcount:asked-to-sign-in",
  signingIn: "headcount:signing-in",
  reading: "headcount:reading",
  drawn: "headcount:drawn",
};

export const state = {
  catalog: null, // Map name -> metric, from GET v1/metrics
  kpis: null, // the KPI charts' metrics, found in the catalog by kind (findKpis)
  timezone: null, // the zone of the API's answers: the chosen one (zones.js), or the API's reporting zone
  zone: null, // the zone this person chose (sent as tz= with every read), or null for the API's
  reportingZone: null, // the API's own, learnt from an answer without tz=
  today: null, // today's date in the answers' zone, from the API's own answer
  ticks: 0,
  timer: null,
  latest: new Map(), // chart id -> its newest request: an older answer arriving late is dropped
  charts: {}, // chart id -> what it drew: {metric, from, to, group, buckets, rows (the CSV), plot (uPlot), legend}
};
window.headcountDashboard = { charts: state.charts }; // for the console, and tests/e2e/test_dashboard.py

export function noteAnswer(answer) {
  state.timezone = answer.timezone;
  if (!state.zone && state.reportingZone !== answer.timezone) {
    state.reportingZone = answer.timezone;
    page.zonePick.options[0].textContent = `the API's (${answer.timezone})`;
  }
  // In a zone the batch layer does not compute, distinct players are approximate: the answer's note says so.
  page.zone.classList.toggle("approximate", Boolean(answer.note));
  page.zone.title = answer.note ?? "";
  page.zone.textContent = answer.note
    ? `players approximate in ${answer.timezone}`
    : `days and times in ${answer.timezone}${state.zone ? "" : ", the API's zone"}`;
}

function zoneFormat(options) {
  try {
    return new Intl.DateTimeFormat(undefined, { ...options, timeZone: state.timezone ?? "UTC" });
  } catch {
    return new Intl.DateTimeFormat(undefined, { ...options, timeZone: "UTC" }); // a zone this browser does not know
  }
}

/** "22:35:10 UTC (12 s ago)", with the day in front when it is not today. */
export function formatMoment(iso, { ago = true } = {}) {
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
