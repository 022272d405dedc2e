import { and, eq, lte, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { deadlines } from '../../db/schema/index.ts';
import { recordEvent } from '../cases/events.ts';
import { loadCase } from '../cases/load-case.ts';
import { notifyCustomer, notifyManagers, notifyStaff, notifyTeam } from '../cases/notify.ts';
import type { FlowDeps } from '../deps.ts';
import type { TextKey } from '../engine/catalogue.ts';
import { type Effects, emptyEffects } from '../engine/effects.ts';
import { formatSpan, formatTime } from '../engine/format.ts';
import { findStaff, findTeam } from '../org/directory.ts';
import { onDutyStaff } from '../org/duty.ts';
import type { Work } from '../work.ts';
import { computeDue } from './calendar.ts';
import { CUSTOMER_FACING_CLOCKS, ladderFor } from './clocks.ts';

export type FireStatus = 'fired' | 'early' | 'stale' | 'done';

/**
 * Wakes one deadline. Safe to run any number of times: it acts only when the row is still
 * running, its wake-up time is the one the timer was set for, and that time has come. Each
 * rung of the escalation ladder is taken once; the first one records the breach.
 */
export async function fireDeadline(
  db: Db,
  deps: FlowDeps,
  job: { deadlineId: number; nextAtMs: number },
): Promise<{ status: FireStatus; effects: Effects }> {
  const effects = emptyEffects();
  const status = await db.transaction(async (tx): Promise<FireStatus> => {
    const [row] = await tx.select().from(deadlines).where(eq(deadlines.id, job.deadlineId)).for('update');
    if (row?.state !== 'running' || !row.nextAt) return 'done';
    if (row.nextAt.getTime() !== job.nextAtMs) return 'stale';
    const now = deps.clock.now();
    if (row.nextAt.getTime() > now.getTime()) {
      effects.deadlines.push({ id: row.id, nextAt: row.nextAt });
      return 'early';
    }
    const w: Work = { tx, deps, effects, now };
    const ladder = ladderFor(w, row.kind);
    const caseRow = await loadCase(tx, row.caseId);
    const assignee = caseRow?.assigneeId ? await findStaff(tx, caseRow.assigneeId) : null;
    const params = {
      caseNo: row.caseId,
      clock: deps.t('zh', `clock.${row.kind}` as TextKey),
      due: formatTime(row.dueAt, 'zh'),
      late: formatSpan(now.getTime() - row.dueAt.getTime(), 'zh', deps.t),
      assignee: assignee?.name ?? deps.t('zh', 'nobody'),
    };
    const dedupKey = `deadline:${row.id}:${row.level}:${row.dueAt.getTime()}`;

    if (row.level < 0) {
      // The early reminder: to the assignee, or the team when nobody has it yet.
      const reply = { text: deps.t('zh', 'deadline.reminder', params) };
      if (assignee) await notifyStaff(w, { staffId: assignee.id, reply, dedupKey });
      else if (caseRow?.teamId) await notifyTeam(w, { teamId: caseRow.teamId, reply, dedupKey });
      const nextAt = computeDue(row.dueAt, ladder[0]!.after, deps.calendar);
      await tx.update(deadlines).set({ level: 0, nextAt }).where(eq(deadlines.id, row.id));
      effects.deadlines.push({ id: row.id, nextAt });
      return 'fired';
    }

    const rung = ladder[row.level];
    if (rung && caseRow) {
      const reply = {
        text: deps.t('zh', row.level === 0 ? 'deadline.missed' : 'deadline.escalated', params),
      };
      const team = caseRow.teamId ? await findTeam(tx, caseRow.teamId) : null;
      for (const target of rung.notify) {
        const key = `${dedupKey}:${target}`;
        if (target === 'team' && team) await notifyTeam(w, { teamId: team.id, reply, dedupKey: key });
        if (target === 'onDuty' && team)
          for (const member of await onDutyStaff(tx, { teamId: team.id, now }))
            await notifyStaff(w, {
              staffId: member.staffId,
              reply,
              dedupKey: key,
              identities: member.identities,
            });
        if (target === 'assignee' && assignee)
          await notifyStaff(w, { staffId: assignee.id, reply, dedupKey: key });
        if (target === 'supervisor' && team?.supervisorId)
          await notifyStaff(w, { staffId: team.supervisorId, reply, dedupKey: key });
        if (target === 'manager') await notifyManagers(w, { reply, dedupKey: key });
      }
      if (row.level === 0 && CUSTOMER_FACING_CLOCKS.has(row.kind)) {
        const lang = caseRow.customerLang === 'en' ? 'en' : 'zh';
        const late = deps.t(lang, 'customer.late', {
          caseNo: caseRow.id,
          due: formatTime(row.dueAt, lang),
          clock: deps.t(lang, `clock.${row.kind}` as TextKey),
        });
        await notifyCustomer(w, { caseRow, reply: { text: late }, dedupKey: `${dedupKey}:customer` });
      }
      await recordEvent(w, {
        caseId: caseRow.id,
        actorKind: 'system',
        type: row.level === 0 ? 'deadline_missed' : 'escalated',
        data: { clock: row.kind, level: row.level, notified: rung.notify, dueAt: row.dueAt.toISOString() },
      });
    }
    const following = ladder[row.level + 1];
    const nextAt = following ? computeDue(row.nextAt, following.after, deps.calendar) : null;
    await tx
      .update(deadlines)
      .set({ level: row.level + 1, nextAt, breachedAt: row.breachedAt ?? now })
      .where(eq(deadlines.id, row.id));
    if (nextAt) effects.deadlines.push({ id: row.id, nextAt });
    return 'fired';
  });
  return { status, effects };
}

/** Running deadlines whose next wake-up falls before `until`: what the timers must hold. */
export async function deadlinesDueBefore(
  db: Db,
  opts: { until: Date; limit: number },
): Promise<{ id: number; nextAt: Date }[]> {
  const rows = await db
    .select({ id: deadlines.id, nextAt: deadlines.nextAt })
    .from(deadlines)
    .where(and(eq(deadlines.state, 'running'), lte(deadlines.nextAt, opts.until)))
    .orderBy(sql`${deadlines.nextAt} asc`)
    .limit(opts.limit);
  return rows.map((r) => ({ id: r.id, nextAt: r.nextAt! }));
}
