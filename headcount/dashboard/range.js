// The range of days the charts show: the two date inputs, checked as the API would check them (at most MAX_RANGE_DAYS
// days) with the quick button they match pressed, and the date arithmetic on the reporting zone's ISO dates.
import { page, state } from "./state.js";

const MAX_RANGE_DAYS = 400;

export function addDays(isoDate, days) {
  const date = new Date(`${isoDate}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

export const daysIn = (from, to) => Math.round((Date.parse(to) - Date.parse(from)) / 86_400_000) + 1;

export function setLastDays(days) {
  page.to.value = state.today;
  page.from.value = addDays(state.today, -(days - 1));
}

/** The chosen range, or null (and why, next to the range's title) when the API would refuse it. */
export function chosenRange() {
  const { value: from } = page.from;
  const { value: to } = page.to;
  const problem =
    !from || !to
      ? "Choose both days of the range."
      : from > to
        ? "The range starts after it ends: swap the days."
        : daysIn(from, to) > MAX_RANGE_DAYS
          ? `The API answers at most ${MAX_RANGE_DAYS} days at a time: choose a shorter range.`
          : "";
  page.rangeError.textContent = problem;
  page.rangeError.hidden = !problem;
  page.quick.forEach((b) => {
    const days = Number(b.dataset.days);
    b.setAttribute("aria-pressed", String(to === state.today && from === addDays(to, -(days - 1))));
  });
  return problem ? null : { from, to };
}
