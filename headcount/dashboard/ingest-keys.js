// The ingest keys panel, for admins: game clients and servers send events with an ingest key (x-api-key), one per
// platform, build or server fleet, each with its own throttle and quota. Here an admin lists them, creates one (its
// value shown once, in this panel only while it is open) and revokes one (disabled: API Gateway refuses it within a
// minute). Only admins see the panel's button (sign-in.js); the API's admin routes check the group themselves.
import { panelMessages } from "./admin-panel.js";
import { api } from "./api.js";
import { formatMoment, page } from "./state.js";

const { say, refused } = panelMessages(page.keysPanel, page.keysMessage);

export function listenForIngestKeys() {
  page.keysOpen.addEventListener("click", openPanel);
  page.keysClose.addEventListener("click", () => page.keysPanel.close());
  // the new key's value leaves the page with the panel: "shown once" means once
  page.keysPanel.addEventListener("close", () => showNewKey(null));
  page.keyCreate.addEventListener("submit", (event) => {
    event.preventDefault();
    createKey(page.keyName.value.trim());
  });
  page.keysList.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button) rowAction(button);
  });
  page.newKeyCopy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(page.newKeyValue.textContent);
      page.newKeyCopy.textContent = "Copied";
    } catch {
      getSelection().selectAllChildren(page.newKeyValue); // no clipboard here (permission, plain http): select it
    }
  });
}

async function openPanel() {
  showNewKey(null);
  say("");
  page.keysPanel.showModal();
  page.keyName.focus();
  await listKeys();
}

async function listKeys() {
  page.keysPanel.dataset.state = "loading";
  try {
    const { keys } = await api("v1/admin/keys");
    renderKeys(keys);
    page.keysPanel.dataset.state = "ready";
  } catch (error) {
    refused(error, "The keys could not be listed");
  }
}

async function createKey(name) {
  say("");
  showNewKey(null);
  try {
    const key = await api("v1/admin/keys", {}, { method: "POST", body: { name } });
    page.keyCreate.reset(); // (not only emptied: a reset form shows no "required" error for the empty field)
    showNewKey(key);
  } catch (error) {
    refused(error, `The key ${name} was not created`);
    return;
  }
  await listKeys();
}

async function revokeKey(name) {
  say("");
  try {
    await api(`v1/admin/keys/${encodeURIComponent(name)}`, {}, { method: "DELETE" });
  } catch (error) {
    refused(error, `The key ${name} was not revoked`);
    return;
  }
  say(`Revoked ${name}: API Gateway refuses it within a minute.`, "notice");
  await listKeys();
}

/** A row's Revoke asks once more in place (a revoked key cannot be enabled again: builds that send it stop counting). */
function rowAction(button) {
  const row = button.closest("tr");
  const cell = button.parentElement;
  const name = row.dataset.name;
  if (button.dataset.action === "revoke") {
    cell.replaceChildren(
      text("span", "Revoke it? ", "confirm"),
      actionButton("confirm", "Yes, revoke", `revoke ${name}`),
      actionButton("keep", "Keep", `keep ${name}`),
    );
    cell.querySelector('[data-action="confirm"]').focus();
  } else if (button.dataset.action === "confirm") {
    cell.querySelectorAll("button").forEach((b) => (b.disabled = true));
    revokeKey(name);
  } else {
    cell.replaceChildren(actionButton("revoke", "Revoke", `revoke ${name}`));
  }
}

function renderKeys(keys) {
  page.keysEmpty.hidden = keys.length > 0;
  page.keysList.replaceChildren(
    ...keys.map((key) => {
      const row = document.createElement("tr");
      row.dataset.name = key.name;
      row.dataset.enabled = String(key.enabled);
      const action = document.createElement("td");
      if (key.enabled) action.append(actionButton("revoke", "Revoke", `revoke ${key.name}`));
      row.append(
        text("td", key.name, "key-name"),
        text("td", key.id, "key-id"),
        text("td", created(key.created)),
        text("td", key.enabled ? "active" : "revoked", key.enabled ? "key-active" : "key-revoked"),
        action,
      );
      return row;
    }),
  );
}

function showNewKey(key) {
  page.newKey.hidden = !key;
  page.newKeyName.textContent = key?.name ?? "";
  page.newKeyValue.textContent = key?.value ?? "";
  page.newKeyCopy.textContent = "Copy";
}

function created(value) {
  const moment = new Date(typeof value === "number" && value < 1e11 ? value * 1000 : value); // epoch seconds or ISO
  return Number.isNaN(moment.getTime()) ? String(value ?? "") : formatMoment(moment.toISOString(), { ago: false });
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
