import { describe, expect, it } from 'vitest';
import {
  DURATION_ERROR_MESSAGE,
  durationSchema,
  parseDuration,
} from '../../../../src/flows/deadlines/duration.ts';

describe('parseDuration', () => {
  it.each([
    ['30m', 30, 'm'],
    ['2h', 2, 'h'],
    ['1d', 1, 'd'],
    ['3wd', 3, 'wd'],
    ['4wh', 4, 'wh'],
    ['1.5h', 1.5, 'h'],
    ['0.5wh', 0.5, 'wh'],
    ['2.5d', 2.5, 'd'],
  ] as const)('parses %s as %d %s', (text, amount, unit) => {
    expect(parseDuration(text)).toEqual({ amount, unit, text });
  });

  it('trims surrounding spaces and keeps the trimmed text', () => {
    expect(parseDuration('  3wd \n')).toEqual({ amount: 3, unit: 'wd', text: '3wd' });
  });

  it('tolerates a space between amount and unit', () => {
    expect(parseDuration('2 h')).toEqual({ amount: 2, unit: 'h', text: '2 h' });
  });

  it.each([
    '',
    '   ',
    '3x',
    '-1h',
    '0m',
    '0wd',
    '0.0h',
    'abc',
    '3.5wd',
    '1.0wd',
    'h',
    '3',
    '.5h',
    '5.h',
    '1e3m',
    '3 wd x',
    '3w',
    `${'9'.repeat(400)}h`,
  ])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeNull();
  });
});

describe('durationSchema', () => {
  it('transforms a duration string into a Duration', () => {
    expect(durationSchema.parse('3wd')).toEqual({ amount: 3, unit: 'wd', text: '3wd' });
  });

  it('reports bad input with a message showing example durations', () => {
    const result = durationSchema.safeParse('3x');
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.message)).toEqual([DURATION_ERROR_MESSAGE]);
    expect(DURATION_ERROR_MESSAGE).toBe('expected a duration like 30m, 2h, 3wd');
  });

  it('reports a non-string value with the same message', () => {
    const result = durationSchema.safeParse(3);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe(DURATION_ERROR_MESSAGE);
  });
});
