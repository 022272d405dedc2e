import { and, eq, inArray, type SQL, sql } from 'drizzle-orm';
import { deadlines } from '../../db/schema/index.ts';
import { distinctRounds, groupedBy, rowOf, selectByIds, sendStatement, viaBatch } from '../engine/batch.ts';
import type { Work } from '../work.ts';
import { computeDue } from './calendar.ts';
import type { Duration } from './duration.ts';

export type DeadlineRow = typeof deadlines.$inferSelect;

/** The escalation ladder for a clock: its own, or the policy's default. */
export function ladderFor(w: Pick<Work, 'deps'>, kind: string) {
  return w.deps.policy.escalation[kind] ?? w.deps.policy.escalation.default!;
}

export interface ClockStart {
  caseId: number;
  kind: string;
  duration: Duration;
  /** A first wake-up before the time is up (at the policy's share of it), level -1. */
  remind?: boolean;
}

/**
 * Starts (or restarts) a clock on a case: due `duration` from now on the working calendar.
 * The row is the truth; the returned wake-up goes to the timer queue after commit.
 */
export async function startClock(w: Work, opts: ClockStart): Promise<DeadlineRow> {
  return (await startClocks(w, [opts]))[0]!;
}

/** Starts several clocks at once (one statement, also in a batch); the rows come back in order. */
export async function startClocks(w: Work, starts: ClockStart[]): Promise<DeadlineRow[]> {
  const values = starts.map((opts) => clockValues(w, opts));
  const rows = await viaBatch(w.tx, 'clocks.start', values, async (lists) => {
    const all = lists.flat();
    // Several: one upsert with the rows as JSON (a clock started twice in one call or round goes
    // in two statements, in order), by a statement of a fixed text.
    const byClock = new Map<string, DeadlineRow>();
    for (const round of distinctRounds(all, (v) => `${v.caseId}:${v.kind}`)) {
      const rows = await sendStatement(w.tx, upsertClocks(round, sql`*`));
      for (const raw of rows) {
        const r = rowOf(deadlines, raw);
        byClock.set(`${r.caseId}:${r.kind}`, r);
      }
    }
    return lists.map((list) => list.map((v) => byClock.get(`${v.caseId}:${v.kind}`)!));
  });
  rows.forEach((row, i) => {
    w.effects.deadlines.push({ id: row.id, nextAt: values[i]!.nextAt });
  });
  return rows;
}

/** A clock as started by startClocksHeldBack: its row but for the id. */
export type StartedClock = ReturnType<typeof clockValues>;

/**
 * Starts clocks as startClocks does, with a held-back write (in a batch: sent with the next round
 * or the COMMIT, see CoalescerOptions.deferred): for a caller that needs only the times, which are
 * computed here. The rows' ids join the effects (the timers set after the commit) when the write
 * returns.
 */
export async function startClocksHeldBack(w: Work, starts: ClockStart[]): Promise<StartedClock[]> {
  const values = starts.map((opts) => clockValues(w, opts));
  await viaBatch(
    w.tx,
    'clocks.startHeldBack',
    { values, effects: w.effects },
    async (calls) => {
      const all = calls.flatMap((c) => c.values);
      // Every statement is sent before the first answer is awaited (a held-back write's rule); a
      // clock started twice goes in two statements, which run in order.
      const sent = distinctRounds(all, (v) => `${v.caseId}:${v.kind}`).map((round) =>
        sendStatement<{ id: number; case_id: number; kind: string }>(
          w.tx,
          upsertClocks(round, sql`id, case_id, kind`),
        ),
      );
      const idOf = new Map<string, number>();
      for (const rows of await Promise.all(sent))
        for (const r of rows) idOf.set(`${r.case_id}:${r.kind}`, Number(r.id));
      for (const c of calls)
        for (const v of c.values)
          c.effects.deadlines.push({ id: idOf.get(`${v.caseId}:${v.kind}`)!, nextAt: v.nextAt });
      return calls.map(() => undefined);
    },
    { deferred: true },
  );
  return values;
}

/**
 * Starts (or restarts) a round of clocks, none twice: one upsert with the rows as JSON, by a
 * statement of a fixed text.
 */
function upsertClocks(round: StartedClock[], returning: SQL): SQL {
  return sql`
    insert into deadlines (case_id, kind, due_at, next_at, state, level, started_at)
    select r.case_id, r.kind, r.due_at, r.next_at, r.state, r.level, r.started_at
    from json_to_recordset(${JSON.stringify(
      round.map((v) => ({
        case_id: v.caseId,
        kind: v.kind,
        due_at: v.dueAt.toISOString(),
        next_at: v.nextAt.toISOString(),
        state: v.state,
        level: v.level,
        started_at: v.startedAt.toISOString(),
      })),
    )}::json)
      as r(case_id int, kind text, due_at timestamptz, next_at timestamptz, state text, level int, started_at timestamptz)
    on conflict (case_id, kind) do update set
      due_at = excluded.due_at, next_at = excluded.next_at, state = excluded.state, level = excluded.level,
      started_at = excluded.started_at, breach_reason = null, breached_at = null, met_at = null
    returning ${returning}`;
}

function clockValues(w: Work, opts: ClockStart) {
  const dueAt = computeDue(w.now, opts.duration, w.deps.calendar);
  const ladder = ladderFor(w, opts.kind);
  // With a reminder, the first wake-up is at policy share of the time (e.g. 75 %), level -1.
  const remindAt = opts.remind
    ? new Date(
        w.now.getTime() + Math.round((dueAt.getTime() - w.now.getTime()) * w.deps.policy.deadlines.remindAt),
      )
    : null;
  // The first rung may wait a little past the promise (e.g. 0m: at once).
  const nextAt = remindAt ?? computeDue(dueAt, ladder[0]!.after, w.deps.calendar);
  return {
    caseId: opts.caseId,
    kind: opts.kind,
    dueAt,
    nextAt,
    state: 'running',
    level: remindAt ? -1 : 0,
    startedAt: w.now,
    breachReason: null,
    breachedAt: null,
    metAt: null,
  };
}

/** Clocks whose time was promised to the customer: missing one is told to the customer (SPEC §4). */
export const CUSTOMER_FACING_CLOCKS = new Set(['confirm', 'handle', 'repair', 'reply', 'resolve']);

/** Stops clocks because what they waited for happened. Returns the clocks that were running. */
export async function meetClocks(w: Work, opts: { caseId: number; kinds: string[] }): Promise<DeadlineRow[]> {
  if (opts.kinds.length === 0) return [];
  return w.tx
    .update(deadlines)
    .set({ state: 'met', metAt: w.now, nextAt: null })
    .where(
      and(
        eq(deadlines.caseId, opts.caseId),
        inArray(deadlines.kind, opts.kinds),
        eq(deadlines.state, 'running'),
      ),
    )
    .returning();
}

/** Stops every running clock of a case (closed, cancelled). */
export async function stopAllClocks(
  w: Work,
  opts: { caseId: number; as: 'met' | 'cancelled' },
): Promise<void> {
  await w.tx
    .update(deadlines)
    .set({ state: opts.as, nextAt: null, metAt: opts.as === 'met' ? w.now : null })
    .where(and(eq(deadlines.caseId, opts.caseId), eq(deadlines.state, 'running')));
}

/** The running ones of clocks, soonest first; ties in the order given. */
export const soonestRunning = <T extends Pick<DeadlineRow, 'state' | 'dueAt'>>(clocks: T[]): T[] =>
  clocks.filter((c) => c.state === 'running').sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime());

/** Running clocks of a case, soonest first (ties: the one started first). */
export async function runningClocks(w: Pick<Work, 'tx'>, caseId: number): Promise<DeadlineRow[]> {
  return viaBatch(w.tx, 'clocks.running', caseId, async (ids) => {
    // Every clock of the cases (a handful each, by the case index), the running ones kept here:
    // with `state = 'running'` in the statement the planner may walk every running clock of the
    // company through the partial next_at index instead.
    const rows = soonestRunning(
      (await selectByIds(w.tx, deadlines, deadlines.caseId, ids, 'int')).sort((a, b) => a.id - b.id),
    );
    return groupedBy(ids, rows, (r) => r.caseId);
  });
}
