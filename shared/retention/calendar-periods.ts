/** The day, ISO week and month a moment falls in, in a time zone: `2026-11-22`, `2026-W47`, `2026-11`. */
export interface CalendarPeriods {
  readonly daily: string;
  readonly weekly: string;
  readonly monthly: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/**
 * The periods `datetime` (ISO 8601) falls in, in `timeZone` (IANA). Keys of one kind sort as
 * text in time order, so the most recent periods are the greatest.
 */
export function periodsOf(datetime: string, timeZone: string): CalendarPeriods {
  const [year, month, day] = localDate(new Date(datetime), timeZone);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const { weekYear, week } = isoWeek(year, month, day);
  return {
    daily: `${pad(year, 4)}-${pad(month)}-${pad(day)}`,
    weekly: `${pad(weekYear, 4)}-W${pad(week)}`,
    monthly: `${pad(year, 4)}-${pad(month)}`,
  };
}

/** The calendar date of a moment in a time zone, as [year, month 1-12, day]. */
function localDate(date: Date, timeZone: string): [number, number, number] {
  if (timeZone === 'UTC') return [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: 'numeric', day: 'numeric' });
    formatters.set(timeZone, formatter);
  }
  const parts = formatter.formatToParts(date);
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return [part('year'), part('month'), part('day')];
}

/** ISO 8601 week: weeks start on Monday, and week 1 holds the year's first Thursday. */
function isoWeek(year: number, month: number, day: number): { weekYear: number; week: number } {
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = date.getUTCDay() || 7;
  // The Thursday of this week decides its year.
  date.setUTCDate(date.getUTCDate() + 4 - weekday);
  const weekYear = date.getUTCFullYear();
  const week = Math.ceil(((date.getTime() - Date.UTC(weekYear, 0, 1)) / 86_400_000 + 1) / 7);
  return { weekYear, week };
}

/** Whether a time zone is one this runtime knows. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
