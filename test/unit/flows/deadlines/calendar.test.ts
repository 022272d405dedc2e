import { describe, expect, it } from 'vitest';
import {
  atShanghai,
  computeDue,
  shanghaiDate,
  shanghaiTime,
  WorkCalendar,
} from '../../../../src/flows/deadlines/calendar.ts';
import type { Duration } from '../../../../src/flows/deadlines/duration.ts';

/** An instant written with an explicit offset, e.g. '2026-09-25T10:00+08:00'. */
const at = (iso: string): Date => new Date(iso);

const calendar = new WorkCalendar();

describe('Shanghai time helpers', () => {
  it('gives the Shanghai date and time of an instant late in the UTC day', () => {
    const instant = at('2026-09-29T23:30:00Z');
    expect(shanghaiDate(instant)).toBe('2026-09-30');
    expect(shanghaiTime(instant)).toBe('07:30');
  });

  it('builds the instant of a Shanghai wall-clock time, including just after local midnight', () => {
    expect(atShanghai('2026-10-10', '10:00')).toEqual(at('2026-10-10T10:00:00+08:00'));
    expect(atShanghai('2026-01-01', '00:30').toISOString()).toBe('2025-12-31T16:30:00.000Z');
  });

  it.each([
    ['2026-02-30', '10:00'],
    ['2026-9-1', '10:00'],
    ['2026-09-01', '24:00'],
    ['2026-09-01', '9:00'],
  ])('rejects a malformed date or time %s %s', (date, time) => {
    expect(() => atShanghai(date, time)).toThrow(RangeError);
  });
});

describe('WorkCalendar.isWorkday', () => {
  it('follows the holiday library for covered years, including make-up Saturdays', () => {
    expect(calendar.isWorkday('2026-09-25')).toBe(false); // Mid-Autumn, Friday
    expect(calendar.isWorkday('2026-10-01')).toBe(false); // National Day
    expect(calendar.isWorkday('2026-10-10')).toBe(true); // make-up Saturday
    expect(calendar.isWorkday('2026-09-28')).toBe(true); // ordinary Monday
  });

  it('counts weekends only for a year without data', () => {
    expect(calendar.isWorkday('2027-10-01')).toBe(true); // a Friday; the real holiday is unknown
    expect(calendar.isWorkday('2027-10-02')).toBe(false); // Saturday
  });

  it('rejects a malformed date', () => {
    expect(() => calendar.isWorkday('2026/10/01')).toThrow(RangeError);
  });
});

describe('WorkCalendar data coverage', () => {
  it('a 2027 date without policy data counts weekends only and is reported missing', () => {
    expect(calendar.hasData(2026)).toBe(true);
    expect(calendar.hasData(2027)).toBe(false);
    expect(calendar.missingYears([2027, 2026, 2027, 2003])).toEqual([2003, 2027]);
    // Thu 2027-09-30 + 3wd treats Fri 2027-10-01 as a working day: 10-01, 10-04, 10-05.
    expect(calendar.addWorkingDays(at('2027-09-30T10:00+08:00'), 3)).toEqual(at('2027-10-05T10:00+08:00'));
  });

  it('a policy override makes 2027-10-01 a holiday', () => {
    const withPolicy = new WorkCalendar({
      overrides: {
        '2027': {
          holidays: ['2027-10-01', '2027-10-04', '2027-10-05', '2027-10-06', '2027-10-07'],
          workdays: ['2027-10-09'],
        },
      },
    });
    expect(withPolicy.isWorkday('2027-10-01')).toBe(false);
    expect(withPolicy.isWorkday('2027-10-09')).toBe(true);
    expect(withPolicy.hasData(2027)).toBe(true);
    expect(withPolicy.missingYears([2026, 2027])).toEqual([]);
    // Fri 10-08, make-up Sat 10-09, Mon 10-11.
    expect(withPolicy.addWorkingDays(at('2027-09-30T10:00+08:00'), 3)).toEqual(at('2027-10-11T10:00+08:00'));
  });

  it('a policy override wins over the holiday library', () => {
    const closure = new WorkCalendar({ overrides: { '2026': { holidays: ['2026-09-28'] } } });
    expect(closure.isWorkday('2026-09-28')).toBe(false);
    expect(closure.addWorkingDays(at('2026-09-25T10:00+08:00'), 3)).toEqual(at('2026-10-08T10:00+08:00'));
  });

  it('treats years outside custom library years as missing', () => {
    const narrow = new WorkCalendar({ libraryYears: { from: 2020, to: 2025 } });
    expect(narrow.missingYears([2019, 2020, 2025, 2026])).toEqual([2019, 2026]);
    expect(narrow.isWorkday('2026-10-01')).toBe(true); // Thursday, library not consulted
  });

  it('rejects an override date filed under the wrong year', () => {
    expect(() => new WorkCalendar({ overrides: { '2027': { holidays: ['2028-01-01'] } } })).toThrow(
      RangeError,
    );
  });

  it('lists the Shanghai years a span touches', () => {
    expect(calendar.yearsTouched(at('2026-12-31T23:00+08:00'), at('2027-01-02T09:00+08:00'))).toEqual([
      2026, 2027,
    ]);
    // 20:00 UTC on New Year's Eve is already 2027 in Shanghai.
    const instant = at('2026-12-31T20:00:00Z');
    expect(calendar.yearsTouched(instant, instant)).toEqual([2027]);
  });
});

describe('WorkCalendar.addWorkingDays', () => {
  it('3wd from the Friday before the Mid-Autumn/National Day holidays lands on 2026-09-30', () => {
    expect(calendar.addWorkingDays(at('2026-09-25T10:00+08:00'), 3)).toEqual(at('2026-09-30T10:00+08:00'));
  });

  it('3wd from 2026-09-30 counts the make-up Saturday 2026-10-10', () => {
    // 10-08 Thu, 10-09 Fri, 10-10 Sat (make-up).
    expect(calendar.addWorkingDays(at('2026-09-30T10:00+08:00'), 3)).toEqual(at('2026-10-10T10:00+08:00'));
  });

  it('3wd from Friday 2025-09-26 counts the make-up Sunday 2025-09-28', () => {
    expect(calendar.addWorkingDays(at('2025-09-26T09:00+08:00'), 3)).toEqual(at('2025-09-30T09:00+08:00'));
  });

  it('never counts the start day, even when it is a working day', () => {
    expect(calendar.addWorkingDays(at('2026-09-28T10:00+08:00'), 1)).toEqual(at('2026-09-29T10:00+08:00'));
  });

  it('starting inside a holiday counts from the first working day after it', () => {
    expect(calendar.addWorkingDays(at('2026-10-03T15:00+08:00'), 1)).toEqual(at('2026-10-08T15:00+08:00'));
  });

  it('uses the Shanghai date when the instant is on the previous UTC day', () => {
    // 07:00 Shanghai on 09-30 is 23:00 UTC on 09-29.
    const early = at('2026-09-30T07:00+08:00');
    expect(calendar.addWorkingDays(early, 1)).toEqual(at('2026-10-08T07:00+08:00'));
    const late = at('2026-09-30T23:30+08:00');
    expect(calendar.addWorkingDays(late, 1)).toEqual(at('2026-10-08T23:30+08:00'));
  });

  it('returns the start instant for zero days and rejects negative or fractional days', () => {
    const from = at('2026-09-25T10:00+08:00');
    expect(calendar.addWorkingDays(from, 0)).toEqual(from);
    expect(() => calendar.addWorkingDays(from, -1)).toThrow(RangeError);
    expect(() => calendar.addWorkingDays(from, 1.5)).toThrow(RangeError);
  });
});

describe('WorkCalendar.addWorkingHours (08:30-17:30, lunch 12:00-13:30)', () => {
  it('skips the lunch break when crossing it', () => {
    expect(calendar.addWorkingHours(at('2026-09-28T11:00+08:00'), 2)).toEqual(at('2026-09-28T14:30+08:00'));
  });

  it('a start during lunch counts from 13:30', () => {
    expect(calendar.addWorkingHours(at('2026-09-28T12:30+08:00'), 1)).toEqual(at('2026-09-28T14:30+08:00'));
  });

  it('an evening start counts from the next morning', () => {
    expect(calendar.addWorkingHours(at('2026-09-28T19:00+08:00'), 1)).toEqual(at('2026-09-29T09:30+08:00'));
  });

  it('an early-morning start counts from 08:30 the same day', () => {
    expect(calendar.addWorkingHours(at('2026-09-28T06:00+08:00'), 1.5)).toEqual(at('2026-09-28T10:00+08:00'));
  });

  it('a weekend start counts from Monday morning', () => {
    expect(calendar.addWorkingHours(at('2026-09-12T10:00+08:00'), 2)).toEqual(at('2026-09-14T10:30+08:00'));
  });

  it('late Friday rolls over the weekend', () => {
    expect(calendar.addWorkingHours(at('2026-09-11T16:30+08:00'), 2)).toEqual(at('2026-09-14T09:30+08:00'));
  });

  it('a full day of work ends at 17:30, not the next morning', () => {
    expect(calendar.addWorkingHours(at('2026-09-28T08:30+08:00'), 7.5)).toEqual(at('2026-09-28T17:30+08:00'));
  });

  it('skips the National Day holiday', () => {
    expect(calendar.addWorkingHours(at('2026-09-30T17:00+08:00'), 1)).toEqual(at('2026-10-08T09:00+08:00'));
  });

  it('counts the make-up Saturday 2026-10-10', () => {
    expect(calendar.addWorkingHours(at('2026-10-09T17:00+08:00'), 1)).toEqual(at('2026-10-10T09:00+08:00'));
  });

  it('uses configured hours without a lunch break', () => {
    const noLunch = new WorkCalendar({ workingHours: { start: '09:00', end: '18:00' } });
    expect(noLunch.addWorkingHours(at('2026-09-28T11:00+08:00'), 2)).toEqual(at('2026-09-28T13:00+08:00'));
  });

  it('rejects working hours that end before they start or a lunch outside them', () => {
    expect(() => new WorkCalendar({ workingHours: { start: '18:00', end: '09:00' } })).toThrow(RangeError);
    expect(
      () =>
        new WorkCalendar({
          workingHours: { start: '09:00', end: '18:00', lunch: { start: '08:00', end: '10:00' } },
        }),
    ).toThrow(RangeError);
  });

  it('rejects negative hours', () => {
    expect(() => calendar.addWorkingHours(at('2026-09-28T10:00+08:00'), -1)).toThrow(RangeError);
  });
});

describe('computeDue', () => {
  const from = at('2026-09-30T10:00+08:00');
  const due = (amount: number, unit: Duration['unit']) =>
    computeDue(from, { amount, unit, text: `${amount}${unit}` }, calendar);

  it('treats m, h and d as elapsed time, ignoring holidays', () => {
    expect(due(30, 'm')).toEqual(at('2026-09-30T10:30+08:00'));
    expect(due(1.5, 'h')).toEqual(at('2026-09-30T11:30+08:00'));
    expect(due(1, 'd')).toEqual(at('2026-10-01T10:00+08:00'));
  });

  it('counts wd on the working-day calendar', () => {
    expect(due(3, 'wd')).toEqual(at('2026-10-10T10:00+08:00'));
  });

  it('rounds a fractional working-day amount up', () => {
    expect(due(2.2, 'wd')).toEqual(at('2026-10-10T10:00+08:00'));
  });

  it('counts wh inside working hours', () => {
    // 10:00-12:00 and 13:30-17:30 on 09-30 is 6h; the 7th hour is 08:30-09:30 on 10-08.
    expect(due(7, 'wh')).toEqual(at('2026-10-08T09:30+08:00'));
  });
});
