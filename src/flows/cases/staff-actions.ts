import { eq } from 'drizzle-orm';
import { cases } from '../../db/schema/index.ts';
import { meetClocks, stopAllClocks } from '../deadlines/clocks.ts';
import type { Context } from '../engine/context.ts';
import type { StaffRow } from '../org/directory.ts';
import { findStaff, isTeamMember } from '../org/directory.ts';
import { startResolve } from '../repair/resolve-flow.ts';
import { renderCard } from './card.ts';
import { recordEvent } from './events.ts';
import { loadCase } from './load-case.ts';
import { notifyCustomer, notifyStaff, notifyTeam } from './notify.ts';
import type { CaseRow } from './open-case.ts';

/**
 * Loads and locks the case and checks the staff member may act on it (a member of its team).
 * Refusals are answered and written to the audit trail; returns null when refused.
 */
export async function authorize(
  ctx: Context,
  staff: StaffRow | null,
  caseId: number,
  verb: string,
): Promise<CaseRow | null> {
  const caseRow = await loadCase(ctx.tx, caseId, { forUpdate: true });
  if (!caseRow) {
    ctx.say(ctx.text('staff.notFound', { caseNo: caseId }));
    return null;
  }
  const allowed =
    staff !== null && caseRow.teamId !== null && (await isTeamMember(ctx.tx, caseRow.teamId, staff.id));
  if (!allowed) {
    ctx.say(ctx.text('staff.notStaff'));
    await recordEvent(ctx, {
      caseId,
      actorKind: staff ? 'staff' : 'system',
      actorId: staff?.id ?? null,
      type: 'refused',
      data: { verb, channel: ctx.msg.channel, senderId: ctx.msg.sender.id },
    });
    ctx.deps.log.warn(
      { caseId, verb, channel: ctx.msg.channel, staffId: staff?.id ?? null },
      'staff action refused',
    );
    return null;
  }
  return caseRow;
}

/** 接单: the first staff member to take an open case gets it; everyone else is told who did. */
export async function takeCase(ctx: Context, staff: StaffRow | null, caseId: number): Promise<void> {
  const caseRow = await authorize(ctx, staff, caseId, 'take');
  if (!caseRow || !staff) return;
  if (caseRow.state !== 'open') {
    const holder = caseRow.assigneeId ? await findStaff(ctx.tx, caseRow.assigneeId) : null;
    ctx.say(
      caseRow.state === 'closed'
        ? ctx.text('staff.alreadyClosed', { caseNo: caseId })
        : ctx.text('staff.alreadyTaken', { caseNo: caseId, staff: holder?.name ?? '—' }),
    );
    return;
  }
  const [taken] = await ctx.tx
    .update(cases)
    .set({ state: 'taken', assigneeId: staff.id, updatedAt: ctx.now })
    .where(eq(cases.id, caseId))
    .returning();
  await recordEvent(ctx, { caseId, actorKind: 'staff', actorId: staff.id, type: 'taken' });
  await meetClocks(ctx, { caseId, kinds: ['respond', 'ackP0', 'confirm'] });
  await notifyTeam(ctx, {
    teamId: taken!.teamId!,
    reply: { text: ctx.text('staff.taken', { staff: staff.name, caseNo: caseId }) },
  });
  await notifyTeam(ctx, { teamId: taken!.teamId!, reply: await renderCard(ctx, taken!) });
  // The full phone and address go privately to the one who took the case, and the reveal is audited.
  const address = taken!.address ? `\n地址：${taken!.address}` : '';
  const reached = await notifyStaff(ctx, {
    staffId: staff.id,
    reply: {
      text: ctx.deps.t('zh', 'staff.takenPrivate', { caseNo: caseId, phone: taken!.phone ?? '—', address }),
    },
  });
  if (reached > 0)
    await recordEvent(ctx, {
      caseId,
      actorKind: 'staff',
      actorId: staff.id,
      type: 'pii_revealed',
      data: { fields: ['phone', 'address'] },
    });
  await notifyCustomer(ctx, {
    caseRow: taken!,
    reply: {
      text: ctx.deps.t(taken!.customerLang as 'zh', 'customer.taken', { caseNo: caseId, staff: staff.name }),
    },
  });
}

/** 回复: sends the staff member's answer to the customer and stops the answer clock. */
export async function replyToCustomer(
  ctx: Context,
  staff: StaffRow | null,
  caseId: number,
  text: string,
): Promise<void> {
  const caseRow = await authorize(ctx, staff, caseId, 'reply');
  if (!caseRow || !staff) return;
  if (caseRow.state === 'open') return ctx.say(ctx.text('staff.notTaken', { caseNo: caseId }));
  if (caseRow.state === 'closed') return ctx.say(ctx.text('staff.alreadyClosed', { caseNo: caseId }));
  if (!text) return ctx.say(ctx.text('staff.replyEmpty'));
  await recordEvent(ctx, {
    caseId,
    actorKind: 'staff',
    actorId: staff.id,
    type: 'replied',
    data: { length: text.length },
  });
  await meetClocks(ctx, { caseId, kinds: ['reply'] });
  await notifyCustomer(ctx, {
    caseRow,
    reply: { text: ctx.deps.t(caseRow.customerLang as 'zh', 'customer.reply', { caseNo: caseId, text }) },
  });
  ctx.say(ctx.text('staff.replied', { caseNo: caseId }));
}

/** 办结: closes a taken case, stops its clocks and tells the customer. A repair is closed by 完成 instead. */
export async function closeCase(ctx: Context, staff: StaffRow | null, caseId: number): Promise<void> {
  const caseRow = await authorize(ctx, staff, caseId, 'close');
  if (!caseRow || !staff) return;
  if (caseRow.kind === 'repair' && caseRow.state !== 'closed') return startResolve(ctx, staff, caseRow);
  if (caseRow.state === 'open') return ctx.say(ctx.text('staff.notTaken', { caseNo: caseId }));
  if (caseRow.state === 'closed') return ctx.say(ctx.text('staff.alreadyClosed', { caseNo: caseId }));
  const [closed] = await ctx.tx
    .update(cases)
    .set({ state: 'closed', updatedAt: ctx.now, closedAt: ctx.now })
    .where(eq(cases.id, caseId))
    .returning();
  await recordEvent(ctx, { caseId, actorKind: 'staff', actorId: staff.id, type: 'closed' });
  await stopAllClocks(ctx, { caseId, as: 'met' });
  await notifyTeam(ctx, {
    teamId: closed!.teamId!,
    reply: { text: ctx.text('staff.closed', { staff: staff.name, caseNo: caseId }) },
  });
  await notifyCustomer(ctx, {
    caseRow: closed!,
    reply: { text: ctx.deps.t(closed!.customerLang as 'zh', 'customer.closed', { caseNo: caseId }) },
  });
}

/** 工单 <号>: shows the card again (masked, like in the group). */
export async function showCase(ctx: Context, staff: StaffRow | null, caseId: number): Promise<void> {
  const caseRow = await authorize(ctx, staff, caseId, 'show');
  if (caseRow) ctx.say(await renderCard(ctx, caseRow));
}
