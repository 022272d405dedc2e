import { and, eq, isNotNull, or } from 'drizzle-orm';
import { cases, chatIdentities, deadlines, staff as staffTable, teams } from '../../db/schema/index.ts';
import { renderCard } from '../cases/card.ts';
import { recordEvent } from '../cases/events.ts';
import { notifyCustomer, notifyStaff, notifyTeam } from '../cases/notify.ts';
import { routeCase } from '../cases/route-case.ts';
import { authorize } from '../cases/staff-actions.ts';
import { meetClocks, startClock } from '../deadlines/clocks.ts';
import type { Context } from '../engine/context.ts';
import { saveDialogue } from '../engine/dialogue-store.ts';
import type { Channel, Lang } from '../engine/message.ts';
import type { StaffRow } from '../org/directory.ts';
import { isTeamMember } from '../org/directory.ts';

const customerLang = (lang: string): Lang => (lang === 'en' ? 'en' : 'zh');

/** 到达: the assignee is on site; the on-site clock is met and the customer told. */
export async function arriveAtCase(ctx: Context, staff: StaffRow | null, caseId: number): Promise<void> {
  const caseRow = await authorize(ctx, staff, caseId, 'arrive');
  if (!caseRow || !staff) return;
  if (caseRow.state === 'open') return ctx.say(ctx.text('staff.notTaken', { caseNo: caseId }));
  if (caseRow.state === 'closed') return ctx.say(ctx.text('staff.alreadyClosed', { caseNo: caseId }));
  if (caseRow.state === 'arrived') return ctx.say(ctx.text('staff.alreadyArrived', { caseNo: caseId }));
  const [arrived] = await ctx.tx
    .update(cases)
    .set({ state: 'arrived', updatedAt: ctx.now })
    .where(eq(cases.id, caseId))
    .returning();
  await recordEvent(ctx, { caseId, actorKind: 'staff', actorId: staff.id, type: 'arrived' });
  await meetClocks(ctx, { caseId, kinds: ['handle'] });
  await notifyTeam(ctx, {
    teamId: arrived!.teamId!,
    reply: { text: ctx.deps.t('zh', 'staff.arrived', { staff: staff.name, caseNo: caseId }) },
  });
  await notifyTeam(ctx, { teamId: arrived!.teamId!, reply: await renderCard(ctx, arrived!) });
  const lang = customerLang(arrived!.customerLang);
  await notifyCustomer(ctx, {
    caseRow: arrived!,
    reply: { text: ctx.deps.t(lang, 'customer.arrived', { staff: staff.name, caseNo: caseId }) },
  });
}

/** 备注: a note on the case's record, for the team. */
export async function noteCase(
  ctx: Context,
  staff: StaffRow | null,
  caseId: number,
  text: string,
): Promise<void> {
  const caseRow = await authorize(ctx, staff, caseId, 'note');
  if (!caseRow || !staff) return;
  if (!text) return ctx.say(ctx.text('staff.noteEmpty'));
  await recordEvent(ctx, {
    caseId,
    actorKind: 'staff',
    actorId: staff.id,
    type: 'note',
    data: { text: text.slice(0, 1000) },
  });
  ctx.say(ctx.text('staff.noted', { caseNo: caseId }));
}

/**
 * 联系客户: sends the staff member's question to the customer; the customer's next message is
 * relayed back to the team's group (the relay dialogue).
 */
export async function askCustomer(
  ctx: Context,
  staff: StaffRow | null,
  caseId: number,
  text: string,
): Promise<void> {
  const caseRow = await authorize(ctx, staff, caseId, 'ask');
  if (!caseRow || !staff) return;
  if (caseRow.state === 'closed') return ctx.say(ctx.text('staff.alreadyClosed', { caseNo: caseId }));
  if (!text) return ctx.say(ctx.text('staff.askEmpty'));
  const lang = customerLang(caseRow.customerLang);
  await notifyCustomer(ctx, {
    caseRow,
    reply: { text: ctx.deps.t(lang, 'customer.question', { caseNo: caseId, text }) },
  });
  await recordEvent(ctx, {
    caseId,
    actorKind: 'staff',
    actorId: staff.id,
    type: 'asked_customer',
    data: { text: text.slice(0, 1000) },
  });
  const [identity] = caseRow.customerId
    ? await ctx.tx
        .select()
        .from(chatIdentities)
        .where(
          and(eq(chatIdentities.customerId, caseRow.customerId), eq(chatIdentities.channel, caseRow.channel)),
        )
    : [];
  if (identity)
    await saveDialogue(
      ctx.tx,
      { channel: caseRow.channel as Channel, chatId: caseRow.chatId, userId: identity.externalUserId },
      {
        flow: 'relay',
        flowVersion: 1,
        step: 'answer',
        data: { caseId },
        history: [],
        offered: [],
        lang,
        now: ctx.now,
      },
    );
  ctx.say(ctx.text('staff.asked', { caseNo: caseId }));
}

/** 原因: why a clock was missed; recorded on the breached clocks and told to the customer (SPEC §4). */
export async function explainDelay(
  ctx: Context,
  staff: StaffRow | null,
  caseId: number,
  reason: string,
): Promise<void> {
  const caseRow = await authorize(ctx, staff, caseId, 'reason');
  if (!caseRow || !staff) return;
  if (!reason) return ctx.say(ctx.text('staff.reasonEmpty'));
  const breached = await ctx.tx
    .update(deadlines)
    .set({ breachReason: reason.slice(0, 500) })
    .where(and(eq(deadlines.caseId, caseId), isNotNull(deadlines.breachedAt)))
    .returning({ kind: deadlines.kind });
  if (breached.length === 0) return ctx.say(ctx.text('staff.noBreach', { caseNo: caseId }));
  await recordEvent(ctx, {
    caseId,
    actorKind: 'staff',
    actorId: staff.id,
    type: 'breach_reason',
    data: { reason, clocks: breached.map((b) => b.kind) },
  });
  const lang = customerLang(caseRow.customerLang);
  await notifyCustomer(ctx, {
    caseRow,
    reply: { text: ctx.deps.t(lang, 'customer.lateReason', { caseNo: caseId, reason }) },
  });
  ctx.say(ctx.text('staff.reasonSaved', { caseNo: caseId }));
}

/**
 * 转派: to another team (re-routed, its response clocks restarted) or to a member of the case's
 * team (who must take it). The target is a team id or name, or a staff member's name or id.
 */
export async function transferCase(
  ctx: Context,
  staff: StaffRow | null,
  caseId: number,
  target: string,
): Promise<void> {
  const caseRow = await authorize(ctx, staff, caseId, 'transfer');
  if (!caseRow || !staff) return;
  if (!target) return ctx.say(ctx.text('staff.transferUsage'));
  if (caseRow.state === 'closed') return ctx.say(ctx.text('staff.alreadyClosed', { caseNo: caseId }));
  const [team] = await ctx.tx
    .select()
    .from(teams)
    .where(or(eq(teams.id, target), eq(teams.name, target)));
  const [person] = team
    ? []
    : await ctx.tx
        .select()
        .from(staffTable)
        .where(and(eq(staffTable.active, true), or(eq(staffTable.id, target), eq(staffTable.name, target))));
  if (!team && !(person && caseRow.teamId && (await isTeamMember(ctx.tx, caseRow.teamId, person.id))))
    return ctx.say(ctx.text('staff.transferUnknown', { target }));

  // Back to waiting: the new holder must take it, and the response clock starts again.
  await ctx.tx.update(cases).set({ state: 'open', updatedAt: ctx.now }).where(eq(cases.id, caseId));
  const clocks = ctx.deps.policy.deadlines.repair;
  const restart =
    caseRow.kind !== 'repair'
      ? { kind: 'respond', duration: ctx.deps.policy.deadlines.human.respond }
      : caseRow.priority === 'P0'
        ? { kind: 'ackP0', duration: clocks.ackP0 }
        : { kind: 'confirm', duration: clocks.confirm };
  await startClock(ctx, { caseId, ...restart, remind: restart.kind === 'confirm' });
  const targetName = team?.name ?? person!.name;
  await recordEvent(ctx, {
    caseId,
    actorKind: 'staff',
    actorId: staff.id,
    type: 'transferred',
    data: { from: caseRow.teamId, toTeam: team?.id ?? null, toStaff: person?.id ?? null },
  });
  const notice = {
    text: ctx.deps.t('zh', 'staff.transferred', { caseNo: caseId, staff: staff.name, target: targetName }),
  };
  await notifyTeam(ctx, { teamId: caseRow.teamId!, reply: notice });
  if (team) {
    await routeCase(ctx, {
      caseRow: { ...caseRow, state: 'open' },
      teamId: team.id,
      page: caseRow.priority === 'P0',
    });
    const lang = customerLang(caseRow.customerLang);
    await notifyCustomer(ctx, {
      caseRow,
      reply: { text: ctx.deps.t(lang, 'customer.transferred', { caseNo: caseId, team: team.name }) },
    });
  } else {
    const [moved] = await ctx.tx
      .update(cases)
      .set({ assigneeId: person!.id })
      .where(eq(cases.id, caseId))
      .returning();
    await recordEvent(ctx, {
      caseId,
      actorKind: 'staff',
      actorId: staff.id,
      type: 'assigned',
      data: { staffId: person!.id },
    });
    const card = await renderCard(ctx, moved!);
    await notifyTeam(ctx, { teamId: caseRow.teamId!, reply: card });
    await notifyStaff(ctx, { staffId: person!.id, reply: card });
  }
}
