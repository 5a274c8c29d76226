// The zone picker: the time zone of every day and hour the page shows, sent as tz= with each read (api.js). The API's
// own zone unless this person chose another, remembered in this browser per signed-in person (a preference, not a
// credential: the only thing the dashboard keeps).
import { signedInAs } from "./auth.js";
import { page, state } from "./state.js";

const key = () => `headcount.zone.${signedInAs()}`;
// First in the list: where studios, publishers and players often are. Browsers list ICU's names, some of them older
// than IANA's (Asia/Calcutta for Asia/Kolkata): the API takes both.
const COMMON = [
  "UTC", "America/Los_Angeles", "America/Chicago", "America/New_York", "America/Sao_Paulo", "Europe/London",
  "Europe/Berlin", "Europe/Moscow", "Asia/Dubai", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Shanghai", "Asia/Seoul",
  "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland",
];

/** Every zone this browser knows, in the picker, with this person's choice (if any) selected. */
export function useRememberedZone() {
  if (page.zonePick.options.length === 1) {
    const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    for (const zone of new Set([...COMMON, ...zones])) page.zonePick.add(new Option(zone.replaceAll("_", " "), zone));
  }
  const remembered = localStorage.getItem(key());
  const known = [...page.zonePick.options].some((option) => option.value === remembered);
  state.zone = remembered && known ? remembered : null;
  page.zonePick.value = state.zone ?? "";
}

/** `changed(endedToday)` draws everything again in the zone chosen; `endedToday`: the range ended on the old zone's
 * today (so it should end on the new zone's). */
export function listenForZone(changed) {
  page.zonePick.addEventListener("change", () => {
    state.zone = page.zonePick.value || null;
    if (state.zone) localStorage.setItem(key(), state.zone);
    else localStorage.removeItem(key());
    const endedToday = Boolean(state.today) && page.to.value === state.today;
    state.today = null; // today is the new zone's, from its first answer
    changed(endedToday);
  });
}
