import { eq } from 'drizzle-orm';
import { cases } from '../../db/schema/index.ts';
import { leastLoadedOnDuty, markAssigned, onDutyStaff } from '../org/duty.ts';
import type { Work } from '../work.ts';
import { renderCard } from './card.ts';
import { recordEvent } from './events.ts';
import { notifyStaff, notifyTeam } from './notify.ts';
import type { CaseRow } from './open-case.ts';

/** The team the policy sends a kind of case to. */
export function teamFor(w: Pick<Work, 'deps'>, kind: string): string {
  const routing = w.deps.policy.routing;
  return routing[kind] ?? routing.default;
}

/**
 * Sends a case to a team: picks the on-duty member with the fewest open cases (round robin on
 * ties) as the suggested assignee, posts the card to the team's group chats and tells the
 * assignee privately. With `page` (a leak), every on-duty member is paged privately. A case
 * nobody is on duty for still reaches the group.
 */
export async function routeCase(
  w: Work,
  opts: { caseRow: CaseRow; teamId?: string; page?: boolean },
): Promise<CaseRow> {
  const teamId = opts.teamId ?? teamFor(w, opts.caseRow.kind);
  // Picked and assigned by one statement: the next case of the same transaction (a batch)
  // counts this one, and no lock is held across transactions but the case's own row.
  const [row] = await w.tx
    .update(cases)
    .set({ teamId, assigneeId: leastLoadedOnDuty({ teamId, now: w.now }), updatedAt: w.now })
    .where(eq(cases.id, opts.caseRow.id))
    .returning();
  const candidate = row!.assigneeId ? { staffId: row!.assigneeId } : undefined;
  if (candidate) await markAssigned(w.tx, { teamId, staffId: candidate.staffId, now: w.now });
  const onDuty = opts.page ? await onDutyStaff(w.tx, { teamId, now: w.now }) : [];
  await recordEvent(w, {
    caseId: row!.id,
    actorKind: 'system',
    type: 'assigned',
    data: { teamId, staffId: candidate?.staffId ?? null },
  });
  const card = await renderCard(w, row!);
  if (opts.page) {
    const page = { text: w.deps.t('zh', 'staff.page', { caseNo: row!.id }) };
    await notifyTeam(w, { teamId, reply: page });
    await notifyTeam(w, { teamId, reply: card });
    for (const member of onDuty) {
      await notifyStaff(w, { staffId: member.staffId, reply: page });
      await notifyStaff(w, { staffId: member.staffId, reply: card });
    }
  } else {
    await notifyTeam(w, { teamId, reply: card });
    if (candidate) await notifyStaff(w, { staffId: candidate.staffId, reply: card });
  }
  return row!;
}
