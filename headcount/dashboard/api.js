// The API client: every call goes to the API beside this page (its folder is the API's root: / locally, the stage's
// /prod/ behind API Gateway) with the key kept in this browser; errors about the whole page (a refused key, no
// answer, a failing API) go to the key prompt or the banner; the key prompt and its buttons.
import { $, page } from "./state.js";

const API = new URL(".", location.href);
const KEY_STORAGE = "headcount.apiKey";

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status; // 0: no answer at all
    this.code = code;
  }
}

export const apiKey = () => localStorage.getItem(KEY_STORAGE) ?? "";

export async function api(path, params = {}) {
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
export function reportPageError(error) {
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

export function showBanner(text) {
  page.bannerText.textContent = text;
  page.banner.hidden = false;
}

// ---- the key -------------------------------------------------------------------------------------------------------

export function askForKey(message = "") {
  page.keyError.textContent = message;
  page.keyError.hidden = !message;
  page.keyCancel.hidden = !apiKey() || Boolean(message);
  if (page.prompt.open) return; // several calls were refused at once: one prompt
  page.keyInput.value = "";
  page.prompt.showModal();
  page.keyInput.focus();
}

/** The prompt's and the top bar's key buttons; `onNewKey` runs once a new key is stored. */
export function listenForKeys(onNewKey) {
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = page.keyInput.value.trim();
    if (!key) return;
    localStorage.setItem(KEY_STORAGE, key);
    page.prompt.close();
    onNewKey();
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
}
