import { sql } from 'drizzle-orm';
import { cases } from '../../db/schema/index.ts';
import type { DeadlineRow } from '../deadlines/clocks.ts';
import { concurrently, rowsOf, sendStatement, viaBatch } from '../engine/batch.ts';
import type { Reply } from '../engine/message.ts';
import { type TeamChat, teamChatsOf } from '../org/directory.ts';
import { markAssigned, type OnDutyMember, onDutyStaff } from '../org/duty.ts';
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
 * Gives cases to the on-duty member with the fewest open cases, ties to whoever waited longest
 * since their last one. Returns the member picked (null: nobody is on duty) and everyone on duty,
 * with their names and chat accounts. In a batch, the cases of one round are shared out together
 * (the loads are read once per team and counted up as cases are given), and rounds follow one
 * another, so each sees the assignments before it; no lock is held across transactions but the
 * cases' rows. The assignment is a held-back write (see writeAssignment): nobody waits for it, and
 * every statement sent after it sees it.
 */
async function pickAssignee(
  w: Work,
  input: { caseId: number | Promise<number>; teamId: string },
): Promise<{ assignee: OnDutyMember | null; onDuty: OnDutyMember[] }> {
  return viaBatch(
    w.tx,
    'cases.assign',
    input,
    async (all) => {
      const picked: { assignee: OnDutyMember | null; onDuty: OnDutyMember[] }[] = new Array(all.length);
      for (const teamId of new Set(all.map((a) => a.teamId))) {
        const onDuty = await onDutyStaff(w.tx, { teamId, now: w.now });
        // onDutyStaff orders by load, then by last assignment: the rank breaks ties from here on.
        const members = onDuty.map((member, rank) => ({ member, openCases: member.openCases, rank }));
        let rank = members.length;
        all.forEach((a, i) => {
          if (a.teamId !== teamId) return;
          const best = members.reduce<(typeof members)[number] | undefined>(
            (b, m) =>
              !b || m.openCases < b.openCases || (m.openCases === b.openCases && m.rank < b.rank) ? m : b,
            undefined,
          );
          if (best) {
            best.openCases++;
            best.rank = rank++;
          }
          picked[i] = { assignee: best?.member ?? null, onDuty };
        });
      }
      // A case being opened in the same round trip as this read has its id by now (or in a moment:
      // its insert's answer comes with this one). The writes are held back before the next round
      // of picks reads the loads.
      const caseIds = await Promise.all(all.map((a) => a.caseId));
      await Promise.all(
        all.map((a, i) =>
          writeAssignment(w, {
            case_id: caseIds[i]!,
            team: a.teamId,
            staff: picked[i]!.assignee?.staffId ?? null,
          }),
        ),
      );
      return picked;
    },
    { serial: true },
  );
}

interface Assignment {
  case_id: number;
  team: string;
  staff: string | null;
}

/** Sets cases' team and assignee: held back in a batch (see CoalescerOptions.deferred). */
function writeAssignment(w: Work, pick: Assignment): Promise<void> {
  return viaBatch(
    w.tx,
    'cases.assignWrite',
    pick,
    async (all) => {
      // The last pick of a case counts (one row per case in the statement).
      const last = [...new Map(all.map((p) => [p.case_id, p])).values()];
      await sendStatement(
        w.tx,
        // `limit`: see rowsOf (an index look-up per case once there are a few thousand).
        sql`with r as (${rowsOf(last, sql`case_id int, team text, staff text`)})
            update ${cases} set team_id = r.team, assignee_id = r.staff, updated_at = ${w.now.toISOString()}::timestamptz
            from r
            where ${cases.id} = r.case_id`,
      );
      return all.map(() => undefined);
    },
    { deferred: true },
  );
}

/**
 * Sends a case to a team: picks the on-duty member with the fewest open cases (round robin on
 * ties) as the suggested assignee, posts the card to the team's group chats and tells the
 * assignee privately. With `page` (a leak), every on-duty member is paged privately. A case
 * nobody is on duty for still reaches the group.
 */
export async function routeCase(
  w: Work,
  opts: {
    /** The case, or its insert when it is opened alongside (then `teamId` is needed). */
    caseRow: CaseRow | Promise<CaseRow>;
    teamId?: string;
    page?: boolean;
    /** The case's clocks, when the caller starts them alongside (the card then need not read them). */
    clocks?: () => Promise<Pick<DeadlineRow, 'kind' | 'dueAt' | 'state'>[]>;
  },
): Promise<CaseRow> {
  const opening = Promise.resolve(opts.caseRow);
  const teamId = opts.teamId ?? teamFor(w, (await opening).kind);
  const caseId = opening.then((c) => c.id);
  // Should the insert fail, the pick may have failed first and never awaited this: the failure
  // is the caller's (and the transaction's) either way, not an unhandled rejection.
  caseId.catch(() => {});
  // The team's chats are read with the on-duty members (and their chat accounts), in the same
  // round trip as the case's insert when it is opened alongside.
  const [{ assignee, onDuty }, chats] = await concurrently<
    [Awaited<ReturnType<typeof pickAssignee>>, TeamChat[]]
  >(w.tx, [() => pickAssignee(w, { caseId, teamId }), () => teamChatsOf(w.tx, teamId)]);
  const caseRow = await opening;
  // What the assignment writes (Object.assign: see saveDialogue in dialogue-store.ts).
  const row: CaseRow = Object.assign({}, caseRow, {
    teamId,
    assigneeId: assignee?.staffId ?? null,
    updatedAt: w.now,
  });
  // Held-back writes, and the card: drawn from what is known when the caller started the clocks.
  const [, , card] = await concurrently<[unknown, unknown, Reply]>(w.tx, [
    async () => {
      if (assignee) await markAssigned(w.tx, { teamId, staffId: assignee.staffId, now: w.now });
    },
    () =>
      recordEvent(w, {
        caseId: row.id,
        actorKind: 'system',
        type: 'assigned',
        data: { teamId, staffId: assignee?.staffId ?? null },
      }),
    async () =>
      renderCard(w, row, {
        assignee: assignee && { id: assignee.staffId, name: assignee.name },
        clocks: opts.clocks && (await opts.clocks()),
      }),
  ]);
  if (opts.page) {
    const page = { text: w.deps.t('zh', 'staff.page', { caseNo: row.id }) };
    await notifyTeam(w, { teamId, reply: page, chats });
    await notifyTeam(w, { teamId, reply: card, chats });
    for (const member of onDuty) {
      await notifyStaff(w, { staffId: member.staffId, reply: page, identities: member.identities });
      await notifyStaff(w, { staffId: member.staffId, reply: card, identities: member.identities });
    }
  } else {
    // The group and the assignee's private chat: two chats, so no order between them to keep.
    await notifyTeam(w, { teamId, reply: card, chats });
    if (assignee)
      await notifyStaff(w, { staffId: assignee.staffId, reply: card, identities: assignee.identities });
  }
  return row;
}
