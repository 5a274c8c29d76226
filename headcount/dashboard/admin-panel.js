// What the admins' panels (ingest-keys.js, notifications.js) share: their message line, and how a call the API
// refused is told.
import { reportPageError } from "./api.js";

export function panelMessages(panel, line) {
  function say(message, kind = "error") {
    line.textContent = message;
    line.className = kind;
    line.hidden = !message;
  }

  /** A 401 goes to the sign-in dialog (the panel closed), anything else is said in the panel. */
  function refused(error, what) {
    panel.dataset.state = "error";
    if (error.status === 401) {
      panel.close();
      reportPageError(error);
    } else if (error.status === 0) {
      say(`${what}: the API does not answer. Try again in a moment.`);
    } else if (error.status === 403) {
      say(`${what}: access denied (${error.message}).`);
    } else {
      say(`${what}: ${error.message} (${error.status} ${error.code}).`);
    }
  }

  return { say, refused };
}
