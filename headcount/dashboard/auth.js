// The session: the signed-in person's tokens of the stack's Cognito user pool, held in this module's variables and
// nowhere else (not localStorage, sessionStorage or a cookie, which any script on the page could read and which
// outlive the tab): a reload means signing in again. It talks to the user pool's own API (the endpoint and app client
// that GET v1/auth/config names; the dashboard's client is public, so no secret hash): InitiateAuth with
// USER_PASSWORD_AUTH, RespondToAuthChallenge for the new password of an account an admin created, InitiateAuth with
// REFRESH_TOKEN_AUTH before the access token expires, GlobalSignOut. No page elements here: sign-in.js shows it.

const TARGET = "AWSCognitoIdentityProviderService."; // the X-Amz-Target prefix of the user pool's actions
const REFRESH_AT = 0.8; // of the access token's lifetime (ExpiresIn, an hour by default)
const EARLY_MS = 30_000; // a token this close to its end is refreshed before it is sent (a laptop that slept missed the timer)
const RETRY_MS = 30_000; // a refresh that got no answer is tried again this much later, while the token lasts

let settings = null; // GET v1/auth/config: {region, userPoolId, clientId, cognitoEndpoint, identityProvider, signInDomain}
const PKCE_KEY = "headcount.signIn"; // a federated sign-in under way: its PKCE verifier and state, until it comes back
let session = null; // {accessToken, idToken, refreshToken, expiresAt (ms), user, groups}
let refreshTimer = null;
let refreshing = null; // the refresh under way: every caller waits for the same one
let sessionEnded = () => {};

/** What the user pool answered instead of tokens: `type` is its error's name ("NotAuthorizedException"…). */
export class SignInError extends Error {
  constructor(type, message) {
    super(message);
    this.type = type;
  }
}

export function useSettings(config) {
  settings = config;
}

export const hasSettings = () => settings !== null;
export const signInEndpoint = () => settings?.cognitoEndpoint ?? "";

/** `callback` runs when the session ends on its own (its refresh token refused: expired, revoked, user disabled). */
export function whenSessionEnds(callback) {
  sessionEnded = callback;
}

// ---- signing in ----------------------------------------------------------------------------------------------------

/** Null once signed in, or the user pool's NEW_PASSWORD_REQUIRED challenge ({username, session}) to answer with
 * choosePassword (an account an admin created has a temporary password). Throws a SignInError. */
export async function signIn(username, password) {
  const answer = await cognito("InitiateAuth", {
    AuthFlow: "USER_PASSWORD_AUTH",
    ClientId: settings.clientId,
    AuthParameters: { USERNAME: username, PASSWORD: password },
  });
  return settle(answer, username);
}

export async function choosePassword(challenge, newPassword) {
  const answer = await cognito("RespondToAuthChallenge", {
    ChallengeName: "NEW_PASSWORD_REQUIRED",
    ClientId: settings.clientId,
    Session: challenge.session,
    ChallengeResponses: { USERNAME: challenge.username, NEW_PASSWORD: newPassword },
  });
  return settle(answer, challenge.username);
}

// ---- signing in with the company's identity provider (the user pool's hosted UI: authorization code with PKCE) ----

/** The company's identity provider the stack trusts, or null. */
export const identityProvider = () => (settings?.identityProvider && settings?.signInDomain ? settings.identityProvider : null);

/** Off to the company's sign-in, through the user pool's domain; it comes back to this page with a code. The PKCE
 * verifier waits in sessionStorage (this tab, the round trip only): it is no token, and useless without the code. */
export async function startFederatedSignIn() {
  const verifier = randomText(32);
  const state = randomText(16);
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state }));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: settings.clientId,
    redirect_uri: pageAddress(),
    identity_provider: settings.identityProvider,
    scope: "openid email profile aws.cognito.signin.user.admin",
    state,
    code_challenge: base64url(digest),
    code_challenge_method: "S256",
  });
  location.assign(`${settings.signInDomain}/oauth2/authorize?${query}`);
}

/** Back from the company's sign-in (a `code` and `state` in the address): the code traded for tokens. True when
 * signed in so; false when this is no such return. Throws a SignInError when the trade fails. */
export async function finishFederatedSignIn() {
  const params = new URLSearchParams(location.search);
  if (!params.has("code") || !params.has("state")) return false;
  const started = JSON.parse(sessionStorage.getItem(PKCE_KEY) ?? "null");
  sessionStorage.removeItem(PKCE_KEY);
  history.replaceState(null, "", pageAddress()); // the code is good once: not left in the address or the history
  if (!started || started.state !== params.get("state") || !identityProvider()) {
    throw new SignInError("FederatedSignIn", "this sign-in was not started here: sign in again");
  }
  let response;
  try {
    response = await fetch(`${settings.signInDomain}/oauth2/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        client_id: settings.clientId,
        code: params.get("code"),
        redirect_uri: pageAddress(),
        code_verifier: started.verifier,
      }),
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    throw new SignInError("Unreachable", `no answer from ${settings.signInDomain}`);
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new SignInError("FederatedSignIn", `the user pool refused the sign-in (${answer.error})`);
  keep({
    AccessToken: answer.access_token,
    IdToken: answer.id_token,
    RefreshToken: answer.refresh_token,
    ExpiresIn: answer.expires_in,
  });
  return true;
}

const pageAddress = () => location.origin + location.pathname; // the app client's callback URL: the stage's root

function randomText(bytes) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function settle(answer, username) {
  if (answer.AuthenticationResult) {
    keep(answer.AuthenticationResult);
    return null;
  }
  if (answer.ChallengeName === "NEW_PASSWORD_REQUIRED") {
    // the challenge names the user as the pool knows it (an alias such as an email signs in as its user name)
    const named = answer.ChallengeParameters?.USER_ID_FOR_SRP ?? answer.ChallengeParameters?.USERNAME;
    return { username: named ?? username, session: answer.Session };
  }
  throw new SignInError(
    "UnsupportedChallenge",
    `the user pool asks for ${answer.ChallengeName}, which this dashboard cannot answer: ask an admin of headcount`,
  );
}

function keep(result) {
  const access = claims(result.AccessToken);
  const id = claims(result.IdToken);
  session = {
    accessToken: result.AccessToken,
    idToken: result.IdToken,
    // a refresh answers without a refresh token: the one we have stays valid (30 days by default)
    refreshToken: result.RefreshToken ?? session?.refreshToken,
    // from ExpiresIn and this browser's clock, not the token's exp: the two clocks may disagree
    expiresAt: Date.now() + result.ExpiresIn * 1000,
    user: nameOf(id) ?? access.username ?? "",
    groups: groupsOf(access),
  };
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refreshInBackground, result.ExpiresIn * 1000 * REFRESH_AT);
}

// ---- the session's tokens ------------------------------------------------------------------------------------------

export const signedIn = () => session !== null;
export const signedInAs = () => session?.user ?? "";
// For what the page shows only: the API checks the group itself (its admin routes answer 403 to anybody else).
export const isAdmin = () => session?.groups.includes("admin") ?? false;

/** The access token to send, refreshed first when it is about to expire; null when there is no session (any more). */
export async function accessToken() {
  if (session && Date.now() > session.expiresAt - EARLY_MS) {
    try {
      await refresh();
    } catch (error) {
      if (isEnd(error)) forgetSession();
      // else the user pool did not answer: the token we have may still do, the API will say
    }
  }
  return session?.accessToken ?? null;
}

function refresh() {
  const asked = session;
  refreshing ??= cognito("InitiateAuth", {
    AuthFlow: "REFRESH_TOKEN_AUTH",
    ClientId: settings.clientId,
    AuthParameters: { REFRESH_TOKEN: asked.refreshToken },
  })
    .then((answer) => {
      if (session === asked) keep(answer.AuthenticationResult); // not if signed out (or in again) meanwhile
    })
    .finally(() => (refreshing = null));
  return refreshing;
}

async function refreshInBackground() {
  if (!session) return;
  try {
    await refresh();
  } catch (error) {
    if (isEnd(error)) {
      forgetSession();
      sessionEnded();
    } else {
      refreshTimer = setTimeout(refreshInBackground, RETRY_MS);
    }
  }
}

// the user pool refuses the refresh token itself (expired, revoked by a sign-out elsewhere, user disabled or deleted)
const isEnd = (error) => error.type === "NotAuthorizedException" || error.type === "UserNotFoundException";

export function forgetSession() {
  clearTimeout(refreshTimer);
  session = null;
}

/** Signs out everywhere (the user pool revokes the refresh tokens), then forgets the tokens here. */
export async function signOut() {
  if (session) {
    // signed out here anyway: a GlobalSignOut that fails only leaves a refresh token that nobody holds any more
    await cognito("GlobalSignOut", { AccessToken: session.accessToken }).catch(() => {});
  }
  forgetSession();
}

// ---- the user pool's API -------------------------------------------------------------------------------------------

async function cognito(action, body) {
  let response;
  try {
    response = await fetch(settings.cognitoEndpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + action },
      body: JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    throw new SignInError("Unreachable", `no answer from ${settings.cognitoEndpoint}`);
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    // the JSON protocol names the error in __type, at times behind its namespace ("…#NotAuthorizedException")
    const type = String(answer.__type ?? `HTTP${response.status}`).split("#").pop();
    throw new SignInError(type, answer.message ?? answer.Message ?? response.statusText);
  }
  return answer;
}

/** A JWT's payload (base64url JSON), unverified: what it says is for display; the API verifies the signature. */
function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part.padEnd(Math.ceil(part.length / 4) * 4, "=")), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}

// The user name people sign in with; in a pool whose users sign in with their email, cognito:username is their sub
// (an opaque id): then the email.
function nameOf(id) {
  const name = id["cognito:username"];
  return name && name !== id.sub ? name : (id.email ?? name);
}

// cognito:groups is a list in the token (API Gateway's authorizer passes it on as a string, the API parses that)
function groupsOf(payload) {
  const groups = payload["cognito:groups"] ?? [];
  return Array.isArray(groups) ? groups.map(String) : String(groups).split(/[\s,[\]]+/).filter(Boolean);
}
