// The API client: every call goes to the API beside this page (its folder is the API's root: / locally, the stage's
// /prod/ behind API Gateway) with the session's access token (auth.js); errors about the whole page go to the sign-in
// dialog (no valid token: 401), the access-denied banner (a token without the role: 403) or the banner of an API
// that does not answer or fails.
import { accessToken, forgetSession, signedInAs } from "./auth.js";
import { askToSignIn } from "./sign-in.js";
import { page, state } from "./state.js";

const API = new URL(".", location.href);

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status; // 0: no answer at all
    this.code = code;
  }
}

/** The API's answer to `path` (relative to the API's root); `body`, when given, is sent as JSON. Every call but the
 * public ones (`signedIn: false`) carries the access token, as API Gateway's Cognito authorizer wants it. Cards that
 * ask for the same numbers at once (the players chart and the activity chart both draw active_players) share one
 * request: each gets its own copy of the answer. */
export async function api(path, params = {}, { method = "GET", body, signedIn = true } = {}) {
  const url = new URL(path, API);
  for (const [name, value] of Object.entries(params)) if (value) url.searchParams.set(name, value);
  // The read routes answer in the zone this person chose (zones.js): its days, hours, today and yesterday.
  if (state.zone && /^v1\/(metrics\/|retention\/)/.test(path)) url.searchParams.set("tz", state.zone);
  const headers = {};
  if (signedIn) {
    const token = await accessToken();
    if (!token) throw new ApiError(401, "unauthorized", "not signed in"); // the gateway's answer, without asking it
    headers.Authorization = `Bearer ${token}`;
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const shared = method === "GET" && body === undefined ? `${url.href} ${headers.Authorization ?? ""}` : null;
  let sent = shared && inFlight.get(shared);
  if (!sent) {
    sent = send(url, { method, headers, body: body && JSON.stringify(body), cache: "no-store" });
    if (shared) {
      inFlight.set(shared, sent);
      sent.finally(() => inFlight.delete(shared)).catch(() => {});
    }
  }
  const { ok, status, statusText, text } = await sent;
  let answer = null;
  try {
    answer = JSON.parse(text);
  } catch {}
  if (!ok) {
    const error = answer?.error ?? { code: `http_${status}`, message: statusText };
    throw new ApiError(status, error.code, error.message);
  }
  page.banner.hidden = true;
  return answer;
}

const inFlight = new Map(); // a GET's URL and token -> its answer on the way (its text: each caller parses its own)

async function send(url, init) {
  let response;
  let text;
  try {
    response = await fetch(url, init);
    text = await response.text();
  } catch {
    throw new ApiError(0, "unreachable", `no answer from ${API.href}`);
  }
  return { ok: response.ok, status: response.status, statusText: response.statusText, text };
}

/** Errors about the whole page (the session, the API itself) go to the sign-in dialog or the banner: true if this
 * one did. */
export function reportPageError(error) {
  if (error.status === 401) {
    forgetSession(); // the API takes this token no more (expired, or not of its user pool): sign in afresh
    askToSignIn("Your session ended: sign in again.");
  } else if (error.status === 403) {
    // Signed in, but without the role: the API's message says which (no group yet, or not an admin). Groups are
    // written into the token when it is issued, so a new group counts from the next sign-in.
    showBanner(
      `Access denied: ${error.message.replace(/\.$/, "")}. You are signed in as ${signedInAs()}; once an admin has ` +
        "changed your groups, sign out and sign in again.",
      { denied: true },
    );
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

/** The banner at the top; an access-denied one offers no "Try again now" (the same token gets the same answer). */
export function showBanner(text, { denied = false } = {}) {
  page.bannerText.textContent = text;
  page.banner.classList.toggle("denied", denied);
  page.bannerRetry.hidden = denied;
  page.banner.hidden = false;
}
