// The notifications panel, for admins: the channels messages go to (Slack, email, a signed webhook), the daily digests
// (a "Send test" sends yesterday's now and says how it went), the KPI alerts with their state, and the recent
// deliveries, the failed ones in red with why; the top bar's button counts the failures of the last days, so a failed
// message shows without opening anything. Like the ingest keys' panel (ingest-keys.js): only admins see its button
// (sign-in.js), the API's admin routes check the group themselves, a webhook's signing secret is shown once, here,
// while the panel is open.
import { panelMessages } from "./admin-panel.js";
import { api } from "./api.js";
import { isAdmin, signedIn } from "./auth.js";
import { formatNumber } from "./charts.js";
import { formatMoment, page, state } from "./state.js";

const { say, refused } = panelMessages(page.notifyPanel, page.notifyMessage);

const FAILURE_DAYS = 7; // the button counts the failed deliveries of the last 7 days
const KINDS = { follow_up: "follow-up" }; // a delivery's kind in words, when its name is not (digest, alert, test…)
let channels = [];

export function listenForNotifications() {
  page.notifyOpen.addEventListener("click", openPanel);
  page.notifyClose.addEventListener("click", () => page.notifyPanel.close());
  page.notifyPanel.addEventListener("close", () => showSecret(null)); // "shown once" means once
  page.newSecretCopy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(page.newSecretValue.textContent);
      page.newSecretCopy.textContent = "Copied";
    } catch {
      getSelection().selectAllChildren(page.newSecretValue); // no clipboard here (permission, plain http): select it
    }
  });
  page.channelKind.addEventListener("change", showChannelFields);
  page.ruleMetric.addEventListener("change", showRuleFields);
  page.ruleCondition.addEventListener("change", showRuleFields);
  page.channelCreate.addEventListener("submit", (event) => {
    event.preventDefault();
    createChannel();
  });
  page.subscriptionCreate.addEventListener("submit", (event) => {
    event.preventDefault();
    createSubscription();
  });
  page.ruleCreate.addEventListener("submit", (event) => {
    event.preventDefault();
    createRule();
  });
  for (const list of [page.channelsList, page.subscriptionsList, page.rulesList]) {
    list.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (button) rowAction(button);
    });
  }
  showChannelFields();
}

// ---- the failures on the top bar's button --------------------------------------------------------------------------

/** The failed deliveries of the last days, counted on the button (admins only; quietly nothing when refused). */
export async function refreshFailures() {
  if (!signedIn() || !isAdmin()) return;
  try {
    const { deliveries } = await api("v1/admin/deliveries");
    showFailures(deliveries);
  } catch {
    // the panel says why when opened; the page's own calls report a session or an API that is gone
  }
}

function showFailures(deliveries) {
  const since = Date.now() - FAILURE_DAYS * 86_400_000;
  const failed = deliveries.filter((d) => d.status === "failed" && d.created_ms >= since).length;
  const words = `${formatNumber(failed)} failed in the last ${FAILURE_DAYS} days`;
  page.notifyCount.textContent = String(failed);
  page.notifyCount.hidden = !failed;
  page.notifyOpen.setAttribute("aria-label", failed ? `Notifications: ${words}` : "Notifications");
  page.notifyOpen.title = failed ? `${words}: open to see why` : "";
  page.notifyFailures.textContent = words;
  page.notifyFailures.hidden = !failed;
}

// ---- the panel -----------------------------------------------------------------------------------------------------

async function openPanel() {
  showSecret(null);
  say("");
  fillMetricChoices();
  page.notifyPanel.showModal();
  await loadAll();
}

async function loadAll() {
  page.notifyPanel.dataset.state = "loading";
  try {
    const [c, s, r, d] = await Promise.all([
      api("v1/admin/channels"),
      api("v1/admin/subscriptions"),
      api("v1/admin/alerts"),
      api("v1/admin/deliveries"),
    ]);
    channels = c.channels;
    renderChannels(c.channels);
    renderSubscriptions(s.subscriptions);
    renderRules(r.rules);
    renderDeliveries(d.deliveries);
    page.notifyPanel.dataset.state = "ready";
  } catch (error) {
    refused(error, "The notifications could not be listed");
  }
}

async function loadDeliveries() {
  try {
    renderDeliveries((await api("v1/admin/deliveries")).deliveries);
  } catch (error) {
    refused(error, "The deliveries could not be listed");
  }
}

// ---- channels ------------------------------------------------------------------------------------------------------

function showChannelFields() {
  const email = page.channelKind.value === "email";
  page.channelUrlLabel.hidden = email;
  page.channelRecipientsLabel.hidden = !email;
  page.channelUrl.required = !email;
  page.channelRecipients.required = email;
  page.channelUrl.placeholder =
    page.channelKind.value === "slack" ? "https://hooks.slack.com/services/…" : "https://example.com/headcount-hook";
}

async function createChannel() {
  const name = $field("#channel-name").value.trim();
  const kind = page.channelKind.value;
  const body =
    kind === "email"
      ? { name, kind, recipients: splitList(page.channelRecipients.value) }
      : { name, kind, url: page.channelUrl.value.trim() };
  say("");
  showSecret(null);
  let made;
  try {
    made = await api("v1/admin/channels", {}, { method: "POST", body });
  } catch (error) {
    refused(error, `The channel ${name} was not added`);
    return;
  }
  page.channelCreate.reset();
  showChannelFields();
  if (made.signing_secret) showSecret(made);
  else say(`Added the channel ${name}.`, "notice");
  await loadAll();
}

function renderChannels(list) {
  page.channelsEmpty.hidden = list.length > 0;
  page.channelsList.replaceChildren(
    ...list.map((channel) =>
      row("channel", channel.name, [
        text("td", channel.name, "key-name"),
        text("td", channel.kind),
        text("td", channel.kind === "email" ? channel.recipients.join(", ") : (channel.target ?? ""), "target"),
        text("td", when(channel.created_at)),
        deleteCell("channel", channel.name),
      ]),
    ),
  );
  const options = list.map((c) => new Option(`${c.name} (${c.kind})`, c.name));
  for (const select of [page.subscriptionChannel, page.ruleChannel]) {
    const chosen = select.value;
    select.replaceChildren(...options.map((o) => o.cloneNode(true)));
    if (list.some((c) => c.name === chosen)) select.value = chosen;
  }
}

function showSecret(channel) {
  page.newSecret.hidden = !channel;
  page.newSecretName.textContent = channel?.name ?? "";
  page.newSecretValue.textContent = channel?.signing_secret ?? "";
  page.newSecretCopy.textContent = "Copy";
}

// ---- digests -------------------------------------------------------------------------------------------------------

/** The catalog's metrics a digest or an alert may name: a day's figure each (no retention, no hourly distinct). */
function reportable() {
  return [...(state.catalog?.values() ?? [])].filter(
    (m) => m.kind !== "retention" && !(m.granularity === "hour" && m.kind !== "count"),
  );
}

function fillMetricChoices() {
  const metrics = reportable();
  const ticked = new Set([...page.subscriptionMetrics.querySelectorAll("input:checked")].map((i) => i.value));
  page.subscriptionMetrics.replaceChildren(
    ...metrics.map((m) => {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.name = "subscription-metric";
      box.value = m.name;
      box.checked = ticked.has(m.name);
      label.append(box, ` ${m.name}${m.group_by ? ` (by ${m.group_by})` : ""}`);
      return label;
    }),
  );
  const chosen = page.ruleMetric.value;
  page.ruleMetric.replaceChildren(...metrics.map((m) => new Option(m.name, m.name)));
  if (metrics.some((m) => m.name === chosen)) page.ruleMetric.value = chosen;
  showRuleFields();
}

async function createSubscription() {
  const name = $field("#subscription-name").value.trim();
  const metrics = [...page.subscriptionMetrics.querySelectorAll("input:checked")].map((i) => i.value);
  say("");
  if (!metrics.length) {
    say(`The digest ${name} was not added: tick at least one metric.`);
    return;
  }
  const timed = page.subscriptionCreate.querySelector('input[name="subscription-when"]:checked').value === "time";
  const body = {
    name,
    channel: page.subscriptionChannel.value,
    metrics,
    groups: splitList(page.subscriptionGroups.value, /,/),
    when: timed ? page.subscriptionTime.value : "closed",
  };
  try {
    await api("v1/admin/subscriptions", {}, { method: "POST", body });
  } catch (error) {
    refused(error, `The digest ${name} was not added`);
    return;
  }
  page.subscriptionCreate.reset();
  say(`Added the digest ${name}: press "Send test" to see it arrive.`, "notice");
  await loadAll();
}

function renderSubscriptions(list) {
  page.subscriptionsEmpty.hidden = list.length > 0;
  page.subscriptionsList.replaceChildren(
    ...list.map((s) => {
      const test = document.createElement("td");
      test.className = "test-cell";
      const result = text("span", "", "test-result");
      result.setAttribute("role", "status");
      test.append(actionButton("test", "Send test", `send a test of ${s.name}`), result);
      const metrics = s.metrics.join(", ") + (s.groups.length ? ` · ${s.groups.join(", ")}` : "");
      return row("subscription", s.name, [
        text("td", s.name, "key-name"),
        text("td", metrics, "wrap"),
        text("td", s.when === "closed" ? "when the day closes" : `daily at ${s.when}`),
        text("td", s.channel),
        test,
        deleteCell("subscription", s.name),
      ]);
    }),
  );
}

/** Yesterday's digest sent now (the API answers once it was sent, or failed after its retries: seconds). */
async function sendTest(button) {
  const name = button.closest("tr").dataset.name;
  const result = button.parentElement.querySelector(".test-result");
  button.disabled = true;
  button.textContent = "Sending…";
  result.textContent = "";
  delete result.dataset.status;
  try {
    const delivery = await api(`v1/admin/subscriptions/${encodeURIComponent(name)}/test`, {}, { method: "POST" });
    result.dataset.status = delivery.status;
    result.textContent =
      delivery.status === "sent"
        ? `sent${delivery.attempts > 1 ? ` (after ${delivery.attempts} attempts)` : ""}`
        : `${delivery.status}: ${delivery.error ?? "no reason given"} (${attempts(delivery.attempts)})`;
  } catch (error) {
    refused(error, `The test of ${name} was not sent`);
  } finally {
    button.disabled = false;
    button.textContent = "Send test";
  }
  await loadDeliveries();
}

// ---- alerts --------------------------------------------------------------------------------------------------------

const NUMBER = {
  above: { name: "threshold", step: "any", min: "" },
  below: { name: "threshold", step: "any", min: "" },
  change: { name: "percent (+30 up, −30 down)", step: "any", min: "" },
  band: { name: "weeks", step: "1", min: "1" },
};

function showRuleFields() {
  const metric = state.catalog?.get(page.ruleMetric.value);
  page.ruleGroupLabel.hidden = !metric?.group_by;
  page.ruleGroup.required = Boolean(metric?.group_by);
  if (metric?.group_by) page.ruleGroup.placeholder = `a ${metric.group_by}`;
  const condition = page.ruleCondition.value;
  const number = NUMBER[condition];
  page.ruleNumberName.textContent = number.name;
  page.ruleNumber.step = number.step;
  page.ruleNumber.min = number.min;
  if (condition === "band" && !page.ruleNumber.value) page.ruleNumber.value = "4";
  page.ruleMarginLabel.hidden = condition !== "band";
}

async function createRule() {
  const name = $field("#rule-name").value.trim();
  const condition = page.ruleCondition.value;
  const number = Number(page.ruleNumber.value);
  const body = {
    name,
    channel: page.ruleChannel.value,
    metric: page.ruleMetric.value,
    group: page.ruleGroupLabel.hidden ? null : page.ruleGroup.value.trim() || null,
    scope: $field("#rule-scope").value,
    condition,
    cooldown_minutes: Number($field("#rule-cooldown").value),
  };
  if (condition === "change") body.percent = number;
  else if (condition === "band") Object.assign(body, { weeks: number, margin_percent: Number(page.ruleMargin.value) });
  else body.threshold = number;
  say("");
  try {
    await api("v1/admin/alerts", {}, { method: "POST", body });
  } catch (error) {
    refused(error, `The alert ${name} was not added`);
    return;
  }
  page.ruleCreate.reset();
  showRuleFields();
  say(`Added the alert ${name}.`, "notice");
  await loadAll();
}

/** The rule's condition in words, as the messages say it (headcount/core/alerts.py, describe). */
export function describeRule(rule) {
  const subject = `${rule.metric}${rule.group ? ` (${rule.group})` : ""}`;
  switch (rule.condition) {
    case "above":
      return `${subject} above ${formatNumber(rule.threshold)}`;
    case "below":
      return `${subject} below ${formatNumber(rule.threshold)}`;
    case "change":
      return (
        `${subject} ${rule.percent > 0 ? "up" : "down"} ${formatNumber(Math.abs(rule.percent))} % or more ` +
        "against the same weekday a week before"
      );
    default:
      return (
        `${subject} outside the range of the last ${rule.weeks} same weekdays` +
        (rule.margin_percent ? ` widened by ${formatNumber(rule.margin_percent)} %` : "")
      );
  }
}

function renderRules(list) {
  page.rulesEmpty.hidden = list.length > 0;
  page.rulesList.replaceChildren(
    ...list.map((rule) => {
      const firing = Boolean(rule.state?.firing);
      const since = rule.state?.since_ms ? ` since ${formatMoment(new Date(rule.state.since_ms).toISOString())}` : "";
      const status = text("td", firing ? `firing${since}` : "ok", firing ? "firing" : "quiet");
      const tr = row("rule", rule.name, [
        text("td", rule.name, "key-name"),
        text("td", `${describeRule(rule)}; at most every ${formatNumber(rule.cooldown_minutes)} min`, "wrap"),
        text("td", rule.scope === "closed" ? "closed days" : "today so far"),
        text("td", rule.channel),
        status,
        deleteCell("rule", rule.name),
      ]);
      tr.dataset.firing = String(firing);
      return tr;
    }),
  );
}

// ---- deliveries ----------------------------------------------------------------------------------------------------

function renderDeliveries(list) {
  showFailures(list);
  page.deliveriesEmpty.hidden = list.length > 0;
  page.deliveriesList.replaceChildren(
    ...list.map((d) => {
      const tr = document.createElement("tr");
      tr.dataset.id = d.id;
      tr.dataset.status = d.status;
      const what = KINDS[d.kind] ?? d.kind;
      const of = d.subscription ?? d.rule;
      const status = text("td", d.status, `status status-${d.status}`);
      if (d.status === "failed") {
        status.textContent = `failed after ${attempts(d.attempts)}`;
        status.append(text("span", d.error ?? "no reason given", "delivery-error"));
      } else if (d.attempts > 1) {
        status.textContent = `${d.status} (${attempts(d.attempts)})`;
      }
      tr.append(
        text("td", formatMoment(new Date(d.updated_ms || d.created_ms).toISOString())),
        text("td", `${what}${of ? ` of ${of}` : ""}${d.day ? `, ${d.day}` : ""}`),
        text("td", d.channel),
        status,
        text("td", d.summary, "wrap summary"),
      );
      return tr;
    }),
  );
}

// ---- deleting ------------------------------------------------------------------------------------------------------

const PATHS = { channel: "v1/admin/channels", subscription: "v1/admin/subscriptions", rule: "v1/admin/alerts" };
const NAMES = { channel: "channel", subscription: "digest", rule: "alert" };

/** A row's Delete asks once more in place; its Send test sends. */
function rowAction(button) {
  const tr = button.closest("tr");
  const { name, kind } = tr.dataset;
  const cell = button.parentElement;
  switch (button.dataset.action) {
    case "test":
      sendTest(button);
      break;
    case "delete":
      cell.replaceChildren(
        text("span", "Delete it? ", "confirm"),
        actionButton("confirm", "Yes, delete", `delete ${NAMES[kind]} ${name}`),
        actionButton("keep", "Keep", `keep ${NAMES[kind]} ${name}`),
      );
      cell.querySelector('[data-action="confirm"]').focus();
      break;
    case "confirm":
      cell.querySelectorAll("button").forEach((b) => (b.disabled = true));
      remove(kind, name);
      break;
    default:
      cell.replaceChildren(actionButton("delete", "Delete", `delete ${NAMES[kind]} ${name}`));
  }
}

async function remove(kind, name) {
  say("");
  try {
    await api(`${PATHS[kind]}/${encodeURIComponent(name)}`, {}, { method: "DELETE" });
    say(`Deleted the ${NAMES[kind]} ${name}.`, "notice");
  } catch (error) {
    refused(error, `The ${NAMES[kind]} ${name} was not deleted`);
  }
  await loadAll();
}

// ---- helpers -------------------------------------------------------------------------------------------------------

const $field = (selector) => document.querySelector(selector);
const splitList = (value, separator = /[,;\s]+/) =>
  value
    .split(separator)
    .map((v) => v.trim())
    .filter(Boolean);
const attempts = (n) => `${n} attempt${n === 1 ? "" : "s"}`;

function when(iso) {
  return iso && !Number.isNaN(Date.parse(iso)) ? formatMoment(iso, { ago: false }) : "";
}

function row(kind, name, cells) {
  const tr = document.createElement("tr");
  tr.dataset.kind = kind;
  tr.dataset.name = name;
  tr.append(...cells);
  return tr;
}

function deleteCell(kind, name) {
  const cell = document.createElement("td");
  cell.append(actionButton("delete", "Delete", `delete ${NAMES[kind]} ${name}`));
  return cell;
}

function text(tag, content, className = "") {
  const element = document.createElement(tag);
  element.textContent = content;
  if (className) element.className = className;
  return element;
}

function actionButton(action, label, ariaLabel) {
  const button = text("button", label);
  button.type = "button";
  button.dataset.action = action;
  button.setAttribute("aria-label", ariaLabel);
  return button;
}
