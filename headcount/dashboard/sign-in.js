// Signing in and out on the page: the sign-in dialog (user name and password, then a new password when an admin
// created the account with a temporary one), what the user pool's refusals mean in words, and the top bar's
// "signed in as …", "Sign out" and, for admins only, "Ingest keys" and "Notifications". The session itself is auth.js's.
import {
  SignInError,
  choosePassword,
  identityProvider,
  isAdmin,
  signIn,
  signInEndpoint,
  signOut,
  signedIn,
  signedInAs,
  startFederatedSignIn,
  whenSessionEnds,
} from "./auth.js";
import { MARKS, page } from "./state.js";

let challenge = null; // the user pool's NEW_PASSWORD_REQUIRED challenge under way: {username, session}

/** The sign-in dialog, with `message` above the fields (why it is asked again); one dialog however often asked. */
export function askToSignIn(message = "") {
  showError(message);
  page.session.hidden = true; // signed in as nobody until the dialog is done
  if (page.signIn.open) return;
  showStep(null);
  const provider = identityProvider();
  page.federatedSignIn.hidden = !provider;
  if (provider) page.federatedSignIn.textContent = `Sign in with ${provider}`;
  page.signIn.showModal();
  (page.userName.value ? page.password : page.userName).focus();
  performance.mark(MARKS.askedToSignIn);
}

/** The dialog's and the top bar's buttons; `onSignedIn` runs once a session has begun. */
export function listenForSignIn(onSignedIn) {
  page.signInForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (page.signInSubmit.disabled) return; // an answer is awaited
    if (challenge && page.newPassword.value !== page.newPasswordAgain.value) {
      showError("The two new passwords differ: type the same one twice.");
      return;
    }
    page.signInSubmit.disabled = true;
    performance.mark(MARKS.signingIn);
    showError("");
    try {
      const next = challenge
        ? await choosePassword(challenge, page.newPassword.value)
        : await signIn(page.userName.value.trim(), page.password.value);
      showStep(next);
      if (next) return;
    } catch (error) {
      showError(describe(error));
      if (challenge && error.type === "NotAuthorizedException") showStep(null); // the challenge's session expired
      return;
    } finally {
      page.signInSubmit.disabled = false;
    }
    page.password.value = "";
    page.signIn.close();
    showSession();
    onSignedIn();
  });
  // Nothing to go back to without a session: Escape does not close the dialog (and Chromium's second Escape, which
  // closes it regardless, finds it opened again).
  page.signIn.addEventListener("cancel", (event) => event.preventDefault());
  page.signIn.addEventListener("close", () => {
    if (!signedIn()) page.signIn.showModal();
  });
  page.federatedSignIn.addEventListener("click", () => {
    page.federatedSignIn.disabled = true; // the page leaves for the company's sign-in
    startFederatedSignIn().catch((error) => {
      page.federatedSignIn.disabled = false;
      showError(describe(error));
    });
  });
  page.signOut.addEventListener("click", async () => {
    page.signOut.disabled = true;
    await signOut();
    location.reload(); // and nothing the session showed stays on the screen
  });
  whenSessionEnds(() => askToSignIn("Your session ended: sign in again."));
}

/** The password step (`next` null) or the new-password step of a NEW_PASSWORD_REQUIRED challenge. */
function showStep(next) {
  challenge = next;
  page.passwordStep.hidden = Boolean(challenge);
  page.newPasswordStep.hidden = !challenge;
  page.password.required = !challenge;
  page.newPassword.required = page.newPasswordAgain.required = Boolean(challenge);
  page.newPassword.value = page.newPasswordAgain.value = "";
  page.signInSubmit.textContent = challenge ? "Set the password and sign in" : "Sign in";
  if (challenge) {
    showError("");
    page.newPassword.focus();
  }
}

function showError(message) {
  page.signInError.textContent = message;
  page.signInError.hidden = !message;
}

export function showSession() {
  page.who.textContent = signedInAs();
  page.keysOpen.hidden = page.notifyOpen.hidden = !isAdmin(); // the others see no admin control at all
  page.session.hidden = false;
}

/** The user pool's refusal (auth.js's SignInError), in words that say what to do. */
export function describe(error) {
  if (!(error instanceof SignInError)) return `Signing in failed: ${error.message}`;
  switch (error.type) {
    case "NotAuthorizedException":
      if (/attempts exceeded/i.test(error.message)) return "Too many failed attempts: wait a few minutes, then try again.";
      if (/disabled/i.test(error.message)) return "This account is disabled: ask an admin of headcount.";
      if (challenge) return "The sign-in took too long: enter your user name and password again.";
      return "Wrong user name or password.";
    case "UserNotFoundException": // a pool that reveals which users exist (PreventUserExistenceErrors off)
      return "Wrong user name or password.";
    case "PasswordResetRequiredException":
      return "Your password has to be reset: ask an admin of headcount for a temporary one.";
    case "UserNotConfirmedException":
      return "This account is not confirmed yet: ask an admin of headcount.";
    case "InvalidPasswordException":
      return `The user pool does not take this password: ${error.message}`;
    case "TooManyRequestsException":
    case "LimitExceededException":
    case "TooManyFailedAttemptsException":
      return "Too many attempts: wait a minute, then try again.";
    case "FederatedSignIn":
      return `Signing in with ${identityProvider() ?? "the company's account"} did not finish: ${error.message}.`;
    case "Unreachable":
      return `The sign-in service does not answer (${signInEndpoint()}): check the connection, then try again.`;
    default:
      return `Signing in failed (${error.type}: ${error.message}).`;
  }
}
