import chineseDays from 'chinese-days';
import type { Duration } from './duration.ts';

/**
 * The slice of `chinese-days` we rely on. Declared here so the rest of the module does not depend on the
 * library's bundled typings, and so the single place that touches the library is obvious.
 * (Named ESM imports of `chinese-days` fail at runtime because it ships CommonJS; the default import works.)
 */
interface HolidayLibrary {
  isWorkday(date: string): boolean;
}

const holidayLibrary = chineseDays as unknown as HolidayLibrary;

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
// Asia/Shanghai has been a fixed UTC+8 with no daylight saving since 1991, so plain offset arithmetic is exact.
const SHANGHAI_OFFSET_MS = 8 * HOUR_MS;
// A guard against endless loops if a misconfigured calendar has no working days at all.
const MAX_SCAN_DAYS = 3 * 366;

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME_PATTERN = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** The Shanghai local calendar date of an instant, as `YYYY-MM-DD`. */
export function shanghaiDate(instant: Date): string {
  return new Date(instant.getTime() + SHANGHAI_OFFSET_MS).toISOString().slice(0, 10);
}

/** The Shanghai local wall-clock time of an instant, as `HH:MM` (seconds dropped). */
export function shanghaiTime(instant: Date): string {
  return new Date(instant.getTime() + SHANGHAI_OFFSET_MS).toISOString().slice(11, 16);
}

/** The instant at which Shanghai wall clocks show `hhmm` on `date`. Throws on malformed input. */
export function atShanghai(date: string, hhmm: string): Date {
  return new Date(shanghaiMidnightMs(date) + parseTimeOfDay(hhmm));
}

/** Epoch milliseconds of 00:00 Shanghai time on `date`. */
function shanghaiMidnightMs(date: string): number {
  assertDate(date);
  return Date.parse(`${date}T00:00:00Z`) - SHANGHAI_OFFSET_MS;
}

/** Milliseconds since local midnight for an `HH:MM` string. */
function parseTimeOfDay(hhmm: string): number {
  const match = TIME_PATTERN.exec(hhmm);
  if (!match) throw new RangeError(`invalid time of day ${JSON.stringify(hhmm)}, expected HH:MM`);
  return Number(match[1]) * HOUR_MS + Number(match[2]) * MINUTE_MS;
}

function assertDate(date: string): void {
  const match = DATE_PATTERN.exec(date);
  // Round-tripping through Date rejects impossible days such as 2026-02-30.
  if (!match || new Date(`${date}T00:00:00Z`).toISOString().slice(0, 10) !== date) {
    throw new RangeError(`invalid date ${JSON.stringify(date)}, expected YYYY-MM-DD`);
  }
}

/** `date` shifted by `days` calendar days (dates only, so no time zone is involved). */
function addCalendarDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

function yearOf(date: string): number {
  return Number(date.slice(0, 4));
}

/**
 * Company policy adjustments per year (keys are years, e.g. `'2027'`). `holidays` are days off;
 * `workdays` are make-up working days (调休) that fall on weekends. Used for years the holiday library
 * does not know yet, and to override it when the company deviates from the State Council schedule.
 */
export interface CalendarOverrides {
  [year: string]: { holidays?: string[]; workdays?: string[] };
}

/** Daily office hours as `HH:MM` Shanghai times, with an optional lunch break that is not counted. */
export interface WorkingHours {
  start: string;
  end: string;
  lunch?: { start: string; end: string };
}

export interface WorkCalendarOptions {
  overrides?: CalendarOverrides;
  workingHours?: WorkingHours;
  /** Years covered by the bundled `chinese-days` data; outside them it silently guesses Mon–Fri. */
  libraryYears?: { from: number; to: number };
}

export const DEFAULT_WORKING_HOURS: WorkingHours = {
  start: '08:30',
  end: '17:30',
  lunch: { start: '12:00', end: '13:30' },
};

export const DEFAULT_LIBRARY_YEARS = { from: 2004, to: 2026 } as const;

/** A counted stretch of a working day, in milliseconds since local midnight. */
interface Period {
  start: number;
  end: number;
}

/** Working-day arithmetic on the PRC calendar (Asia/Shanghai), with company policy overrides. */
export class WorkCalendar {
  private readonly holidays = new Set<string>();
  private readonly workdays = new Set<string>();
  private readonly overrideYears = new Set<number>();
  private readonly periods: Period[];
  private readonly libraryYears: { from: number; to: number };

  constructor(options: WorkCalendarOptions = {}) {
    for (const [year, entry] of Object.entries(options.overrides ?? {})) {
      this.overrideYears.add(Number(year));
      for (const date of entry.holidays ?? []) this.holidays.add(overrideDate(year, date));
      for (const date of entry.workdays ?? []) this.workdays.add(overrideDate(year, date));
    }
    this.periods = workingPeriods(options.workingHours ?? DEFAULT_WORKING_HOURS);
    this.libraryYears = options.libraryYears ?? DEFAULT_LIBRARY_YEARS;
  }

  /**
   * Whether `date` (`YYYY-MM-DD`, Shanghai) is a working day. Policy overrides win; then the holiday
   * library for years it covers; otherwise only weekends are off (the best guess without data — callers
   * should use {@link missingYears} to warn about it).
   */
  isWorkday(date: string): boolean {
    assertDate(date);
    if (this.holidays.has(date)) return false;
    if (this.workdays.has(date)) return true;
    if (this.libraryCovers(yearOf(date))) return holidayLibrary.isWorkday(date);
    const weekday = new Date(`${date}T00:00:00Z`).getUTCDay();
    return weekday !== 0 && weekday !== 6;
  }

  /** Whether holiday data exists for `year`, from the library or from policy overrides. */
  hasData(year: number): boolean {
    return this.libraryCovers(year) || this.overrideYears.has(year);
  }

  /** The years among `years` (deduplicated, ascending) for which the calendar has no holiday data. */
  missingYears(years: number[]): number[] {
    return [...new Set(years)].filter((year) => !this.hasData(year)).sort((a, b) => a - b);
  }

  /**
   * The same Shanghai wall-clock time on the `n`-th working day after the Shanghai date of `from`.
   * The start day never counts, even when it is a working day; make-up working days on weekends do.
   */
  addWorkingDays(from: Date, n: number): Date {
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(`working days must be a non-negative integer: ${n}`);
    }
    const startDate = shanghaiDate(from);
    const timeOfDay = from.getTime() - shanghaiMidnightMs(startDate);
    let date = startDate;
    let counted = 0;
    let idle = 0;
    while (counted < n) {
      date = addCalendarDays(date, 1);
      if (this.isWorkday(date)) {
        counted += 1;
        idle = 0;
      } else if (++idle > MAX_SCAN_DAYS) {
        throw new Error(`no working day found within ${MAX_SCAN_DAYS} days after ${date}`);
      }
    }
    return new Date(shanghaiMidnightMs(date) + timeOfDay);
  }

  /**
   * `from` plus `hours` of working time: only time inside working hours on working days counts, lunch
   * excluded. If `from` is outside working hours, counting starts at the next working period. A deadline
   * that uses up a period exactly ends at that period's end (17:30), not at the next morning's start.
   */
  addWorkingHours(from: Date, hours: number): Date {
    if (!Number.isFinite(hours) || hours < 0) throw new RangeError(`working hours must be >= 0: ${hours}`);
    let remaining = hours * HOUR_MS;
    let date = shanghaiDate(from);
    let cursor = from.getTime();
    let idle = 0;
    for (;;) {
      if (this.isWorkday(date)) {
        idle = 0;
        const midnight = shanghaiMidnightMs(date);
        for (const period of this.periods) {
          const start = Math.max(midnight + period.start, cursor);
          const end = midnight + period.end;
          if (start >= end) continue;
          if (remaining <= end - start) return new Date(start + remaining);
          remaining -= end - start;
        }
      } else if (++idle > MAX_SCAN_DAYS) {
        throw new Error(`no working day found within ${MAX_SCAN_DAYS} days after ${date}`);
      }
      date = addCalendarDays(date, 1);
      cursor = shanghaiMidnightMs(date);
    }
  }

  /** Every calendar year (Shanghai) from `from` to `to` inclusive, in either order; feed to {@link missingYears}. */
  yearsTouched(from: Date, to: Date): number[] {
    const a = yearOf(shanghaiDate(from));
    const b = yearOf(shanghaiDate(to));
    const years: number[] = [];
    for (let year = Math.min(a, b); year <= Math.max(a, b); year += 1) years.push(year);
    return years;
  }

  private libraryCovers(year: number): boolean {
    return year >= this.libraryYears.from && year <= this.libraryYears.to;
  }
}

/** Validates an override date; a date filed under the wrong year is almost certainly a typo in the policy. */
function overrideDate(year: string, date: string): string {
  assertDate(date);
  if (date.slice(0, 4) !== year) throw new RangeError(`override date ${date} is listed under year ${year}`);
  return date;
}

/** Validates working hours and splits them into the periods that count (before and after lunch). */
function workingPeriods(hours: WorkingHours): Period[] {
  const start = parseTimeOfDay(hours.start);
  const end = parseTimeOfDay(hours.end);
  if (start >= end) {
    throw new RangeError(`working hours start ${hours.start} must be before end ${hours.end}`);
  }
  if (!hours.lunch) return [{ start, end }];
  const lunchStart = parseTimeOfDay(hours.lunch.start);
  const lunchEnd = parseTimeOfDay(hours.lunch.end);
  if (!(start < lunchStart && lunchStart < lunchEnd && lunchEnd < end)) {
    throw new RangeError(
      `lunch ${hours.lunch.start}-${hours.lunch.end} must lie strictly inside working hours ${hours.start}-${hours.end}`,
    );
  }
  return [
    { start, end: lunchStart },
    { start: lunchEnd, end },
  ];
}

/**
 * When something started at `from` with time limit `duration` is due. `m`/`h`/`d` are elapsed time
 * (`d` is 24 h per day, ignoring the calendar); `wd` counts working days, rounding a fractional amount up
 * so a deadline is never earlier than written; `wh` counts working hours.
 */
export function computeDue(from: Date, duration: Duration, calendar: WorkCalendar): Date {
  const { amount, unit } = duration;
  if (!Number.isFinite(amount) || amount < 0) throw new RangeError(`invalid duration amount: ${amount}`);
  switch (unit) {
    case 's':
      return new Date(from.getTime() + amount * 1000);
    case 'm':
      return new Date(from.getTime() + amount * MINUTE_MS);
    case 'h':
      return new Date(from.getTime() + amount * HOUR_MS);
    case 'd':
      return new Date(from.getTime() + amount * DAY_MS);
    case 'wd':
      return calendar.addWorkingDays(from, Math.ceil(amount));
    case 'wh':
      return calendar.addWorkingHours(from, amount);
  }
}
