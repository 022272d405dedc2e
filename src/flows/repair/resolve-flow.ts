import { and, eq } from 'drizzle-orm';
import { cases, chatIdentities } from '../../db/schema/index.ts';
import { renderCard } from '../cases/card.ts';
import { recordEvent } from '../cases/events.ts';
import { loadCase } from '../cases/load-case.ts';
import { notifyCustomer, notifyTeam } from '../cases/notify.ts';
import type { CaseRow } from '../cases/open-case.ts';
import { stopAllClocks } from '../deadlines/clocks.ts';
import type { Context } from '../engine/context.ts';
import { choiceAction, startFlow } from '../engine/dialogue.ts';
import { loadDialogue, saveDialogue } from '../engine/dialogue-store.ts';
import type { Step } from '../engine/flow.ts';
import { defineFlow } from '../engine/flow.ts';
import type { Channel, Lang } from '../engine/message.ts';
import type { StaffRow } from '../org/directory.ts';
import { findStaffByIdentity, isTeamMember } from '../org/directory.ts';
import { ratingChoices, ratingFlow } from './customer-cases.ts';

interface ResolveData extends Record<string, unknown> {
  caseId?: number;
  cause?: string;
  process?: string;
  result?: string;
}

const textStep = (
  prompt: 'staff.resolve.cause' | 'staff.resolve.process' | 'staff.resolve.result',
  field: 'cause' | 'process' | 'result',
  next: string,
): Step<ResolveData> => ({
  expects: 'text',
  ask: (ctx, data) => ({ text: ctx.text(prompt, { caseNo: data.caseId ?? '' }) }),
  answer: (_ctx, data, input) => {
    const text = input.text?.trim() ?? '';
    return [...text].length < 2
      ? { retry: 'staff.resolve.short' }
      : { next, data: { ...data, [field]: text.slice(0, 500) } };
  },
});

/** 完成: what staff record when a repair is done (SPEC §1 维修记录): cause, process, result, fixed first time. */
export const resolveFlow = defineFlow<ResolveData>({
  id: 'resolve',
  version: 1,
  start: 'cause',
  initial: () => ({}),
  steps: {
    cause: textStep('staff.resolve.cause', 'cause', 'process'),
    process: textStep('staff.resolve.process', 'process', 'result'),
    result: textStep('staff.resolve.result', 'result', 'firstTime'),
    firstTime: {
      expects: 'choice',
      ask: (ctx) => ({
        text: ctx.text('staff.resolve.firstTime'),
        options: [
          { value: 'yes', label: ctx.text('staff.resolve.yes') },
          { value: 'no', label: ctx.text('staff.resolve.no') },
        ],
      }),
      answer: (_ctx, data, input) => ({
        done: true,
        data: { ...data, fixedFirstTime: input.choice === 'yes' },
      }),
    },
  },
  async complete(ctx, data) {
    const staff = await findStaffByIdentity(ctx.tx, ctx.msg.channel, ctx.msg.sender.id);
    const caseRow = data.caseId ? await loadCase(ctx.tx, data.caseId, { forUpdate: true }) : null;
    // The case may have moved while the questions were answered: check again.
    if (!caseRow || !staff || !caseRow.teamId || !(await isTeamMember(ctx.tx, caseRow.teamId, staff.id))) {
      return ctx.say(ctx.text('staff.notStaff'));
    }
    if (caseRow.state === 'closed') return ctx.say(ctx.text('staff.alreadyClosed', { caseNo: caseRow.id }));
    await closeRepair(ctx, staff, caseRow, {
      cause: data.cause ?? '',
      process: data.process ?? '',
      result: data.result ?? '',
      fixedFirstTime: data.fixedFirstTime === true,
    });
  },
});

/** Starts the resolve questions for a taken repair, in the chat where 完成 was pressed. */
export async function startResolve(ctx: Context, _staff: StaffRow, caseRow: CaseRow): Promise<void> {
  if (caseRow.state === 'open') return ctx.say(ctx.text('staff.notTaken', { caseNo: caseRow.id }));
  if (caseRow.state === 'closed') return ctx.say(ctx.text('staff.alreadyClosed', { caseNo: caseRow.id }));
  const key = { channel: ctx.msg.channel, chatId: ctx.msg.chatId, userId: ctx.msg.sender.id };
  await startFlow(ctx, key, resolveFlow as never, {
    step: 'cause',
    data: { caseId: caseRow.id },
    history: [],
  });
}

/** Closes a repair with its record, stops its clocks, and asks the customer for a rating. */
async function closeRepair(
  ctx: Context,
  staff: StaffRow,
  caseRow: CaseRow,
  record: { cause: string; process: string; result: string; fixedFirstTime: boolean },
): Promise<void> {
  const [closed] = await ctx.tx
    .update(cases)
    .set({
      state: 'closed',
      closedAt: ctx.now,
      updatedAt: ctx.now,
      assigneeId: caseRow.assigneeId ?? staff.id,
      fixedFirstTime: record.fixedFirstTime,
      details: { ...caseRow.details, resolution: record },
    })
    .where(eq(cases.id, caseRow.id))
    .returning();
  await recordEvent(ctx, {
    caseId: caseRow.id,
    actorKind: 'staff',
    actorId: staff.id,
    type: 'resolved',
    data: record,
  });
  await stopAllClocks(ctx, { caseId: caseRow.id, as: 'met' });
  const yesNo = ctx.deps.t('zh', record.fixedFirstTime ? 'yes' : 'no');
  await notifyTeam(ctx, {
    teamId: closed!.teamId!,
    reply: {
      text: ctx.deps.t('zh', 'staff.resolved', { staff: staff.name, caseNo: caseRow.id, firstTime: yesNo }),
    },
  });
  await notifyTeam(ctx, { teamId: closed!.teamId!, reply: await renderCard(ctx, closed!) });
  const lang: Lang = closed!.customerLang === 'en' ? 'en' : 'zh';
  await notifyCustomer(ctx, {
    caseRow: closed!,
    reply: {
      text: ctx.deps.t(lang, 'customer.resolved', {
        caseNo: caseRow.id,
        cause: record.cause,
        result: record.result,
      }),
      choices: ratingChoices(ctx, caseRow.id, lang),
    },
  });
  await awaitTypedRating(ctx, closed!, lang);
}

/**
 * Text-only channels answer the rating with a number: the customer's dialogue waits for it,
 * unless they are in the middle of something else (then the buttons still work where there are).
 */
async function awaitTypedRating(ctx: Context, caseRow: CaseRow, lang: Lang): Promise<void> {
  if (!caseRow.customerId) return;
  const [identity] = await ctx.tx
    .select()
    .from(chatIdentities)
    .where(
      and(eq(chatIdentities.customerId, caseRow.customerId), eq(chatIdentities.channel, caseRow.channel)),
    );
  if (!identity) return;
  const key = {
    channel: caseRow.channel as Channel,
    chatId: caseRow.chatId,
    userId: identity.externalUserId,
  };
  const current = await loadDialogue(ctx.tx, key);
  if (current && current.flow !== 'menu') return;
  await saveDialogue(ctx.tx, key, {
    flow: ratingFlow.id,
    flowVersion: ratingFlow.version,
    step: 'score',
    data: { caseId: caseRow.id },
    history: [],
    offered: ratingChoices(ctx, caseRow.id, lang).map((c, i) => ({
      label: c.label,
      action: choiceAction(ratingFlow.id, 'score', String(5 - i)),
    })),
    lang,
    now: ctx.now,
  });
}
