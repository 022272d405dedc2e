import { z } from 'zod';

/**
 * Units a deadline can be written in:
 * - `s` seconds (for tests and drills), `m` minutes, `h` hours, `d` calendar days (plain elapsed time);
 * - `wd` working days, `wh` working hours (counted on the PRC working-day calendar).
 */
export type DurationUnit = 's' | 'm' | 'h' | 'd' | 'wd' | 'wh';

/** A parsed duration; `text` keeps what was written (trimmed) so messages and logs can echo it. */
export interface Duration {
  amount: number;
  unit: DurationUnit;
  text: string;
}

export const DURATION_ERROR_MESSAGE = 'expected a duration like 30m, 2h, 3wd';

// The unit alternation lists `wd`/`wh` before `d`/`h` only for readability: the pattern is anchored, so
// there is no ambiguity. A space between number and unit is tolerated because policy files are hand-written.
const DURATION_PATTERN = /^(\d+(?:\.\d+)?)\s*(wd|wh|s|m|h|d)$/;

/**
 * Parses a duration such as `30m`, `2h`, `1.5h`, `1d`, `3wd` or `4wh`.
 *
 * Surrounding whitespace is ignored. Returns `null` when the text is not a duration, the amount is not a
 * positive finite number, or a working-day amount has a fraction (`3.5wd`): half a working day has no
 * agreed meaning, so we refuse it rather than guess.
 */
export function parseDuration(text: string): Duration | null {
  const trimmed = text.trim();
  const match = DURATION_PATTERN.exec(trimmed);
  if (!match) return null;
  const [, amountText, unitText] = match;
  if (amountText === undefined || unitText === undefined) return null;
  const unit = unitText as DurationUnit;
  if (unit === 'wd' && amountText.includes('.')) return null;
  const amount = Number(amountText);
  if (!Number.isFinite(amount) || amount <= 0) return null;
  return { amount, unit, text: trimmed };
}

/** Zod schema for config fields holding a duration string; parses into a {@link Duration}. */
export const durationSchema = z.string({ error: DURATION_ERROR_MESSAGE }).transform((text, ctx): Duration => {
  const duration = parseDuration(text);
  if (duration === null) {
    ctx.addIssue({ code: 'custom', message: DURATION_ERROR_MESSAGE, input: text });
    return z.NEVER;
  }
  return duration;
});
