import { and, desc, eq, gt, inArray } from 'drizzle-orm';
import { cases } from '../../db/schema/index.ts';
import { renderCard } from '../cases/card.ts';
import { recordEvent } from '../cases/events.ts';
import { loadCase } from '../cases/load-case.ts';
import { notifyTeam } from '../cases/notify.ts';
import { openCase } from '../cases/open-case.ts';
import { routeCase } from '../cases/route-case.ts';
import { startClock } from '../deadlines/clocks.ts';
import type { Context } from '../engine/context.ts';
import { startFlow } from '../engine/dialogue.ts';
import { clearDialogue, type DialogueKey } from '../engine/dialogue-store.ts';
import { defineFlow } from '../engine/flow.ts';
import { areaOf, emergencyCategory, repairTeam } from './categories.ts';
import { knownContact, rememberContact } from './customer-record.ts';
import { addressStep, phoneStep } from './steps.ts';

/** A leak report within this time of an open one is the same alarm, not a new case. */
const SAME_ALARM_MS = 6 * 3600_000;

interface LeakData extends Record<string, unknown> {
  caseId?: number;
  address?: string;
  phone?: string;
}

/** After the alarm is raised: only the address and a phone number are asked (SPEC §1). */
export const leakFlow = defineFlow<LeakData>({
  id: 'leak',
  version: 1,
  start: 'address',
  initial: () => ({}),
  exclusive: true,
  steps: {
    address: addressStep<LeakData>({ next: 'phone', prompt: 'leak.address' }),
    phone: phoneStep<LeakData>({ next: null, prompt: 'leak.phone' }),
  },
  async complete(ctx, data) {
    const caseRow = data.caseId ? await loadCase(ctx.tx, data.caseId, { forUpdate: true }) : null;
    if (!caseRow) return;
    const area = areaOf(ctx.deps.policy, data.address);
    const [updated] = await ctx.tx
      .update(cases)
      .set({
        address: data.address ?? caseRow.address,
        phone: data.phone ?? caseRow.phone,
        area: area ?? caseRow.area,
        updatedAt: ctx.now,
      })
      .where(eq(cases.id, caseRow.id))
      .returning();
    await rememberContact(ctx, { phone: data.phone, address: data.address });
    await recordEvent(ctx, {
      caseId: caseRow.id,
      actorKind: 'customer',
      type: 'details_added',
      data: { fields: ['address', 'phone'] },
    });
    if (updated!.teamId)
      await notifyTeam(ctx, { teamId: updated!.teamId, reply: await renderCard(ctx, updated!) });
    ctx.say(ctx.text('leak.done', { caseNo: caseRow.id }));
  },
});

/**
 * 报警: the safety script goes out first; then, before any question, the P0 case is opened and
 * every on-duty member of the emergency team is paged; only then are address and phone asked.
 * A second report from the same customer while the first is open joins the first.
 */
export async function raiseLeakAlarm(ctx: Context): Promise<void> {
  const key: DialogueKey = { channel: ctx.msg.channel, chatId: ctx.msg.chatId, userId: ctx.msg.sender.id };
  await clearDialogue(ctx.tx, key);
  ctx.say(ctx.text('leak.safety'));
  const { policy } = ctx.deps;
  const customerId = await ctx.customerId();
  const [open] = await ctx.tx
    .select()
    .from(cases)
    .where(
      and(
        eq(cases.customerId, customerId),
        eq(cases.kind, 'repair'),
        eq(cases.priority, 'P0'),
        inArray(cases.state, ['open', 'taken', 'arrived']),
        gt(cases.createdAt, new Date(ctx.now.getTime() - SAME_ALARM_MS)),
      ),
    )
    .orderBy(desc(cases.id))
    .limit(1);
  let caseRow = open;
  if (caseRow) {
    ctx.say(ctx.text('leak.again', { caseNo: caseRow.id }));
    await recordEvent(ctx, { caseId: caseRow.id, actorKind: 'customer', type: 'reported_again' });
  } else {
    const known = await knownContact(ctx);
    const category = emergencyCategory(policy).id;
    const area = areaOf(policy, known.address);
    caseRow = await openCase(ctx, {
      kind: 'repair',
      customerId,
      category,
      priority: 'P0',
      phone: known.phone,
      address: known.address,
      area,
      summary: ctx.msg.text?.slice(0, 200) ?? null,
    });
    await startClock(ctx, { caseId: caseRow.id, kind: 'ackP0', duration: policy.deadlines.repair.ackP0 });
    const emergencyTeam = policy.teams.find((t) => t.emergency)?.id ?? repairTeam(policy, category, area);
    await routeCase(ctx, { caseRow, teamId: emergencyTeam, page: true });
    ctx.say(ctx.text('leak.opened', { caseNo: caseRow.id }));
  }
  await startFlow(ctx, key, leakFlow as never, {
    step: 'address',
    data: { caseId: caseRow.id },
    history: [],
  });
}
