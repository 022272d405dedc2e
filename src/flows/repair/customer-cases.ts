import { and, desc, eq, inArray, isNull } from 'drizzle-orm';
import { cases } from '../../db/schema/index.ts';
import { recordEvent } from '../cases/events.ts';
import { loadCase } from '../cases/load-case.ts';
import { notifyTeam } from '../cases/notify.ts';
import type { CaseRow } from '../cases/open-case.ts';
import { runningClocks } from '../deadlines/clocks.ts';
import type { TextKey } from '../engine/catalogue.ts';
import type { Context } from '../engine/context.ts';
import { clearDialogue, loadDialogue } from '../engine/dialogue-store.ts';
import { defineFlow } from '../engine/flow.ts';
import { formatTime } from '../engine/format.ts';
import { categoryLabel } from './categories.ts';

/** A case belongs to whoever is the customer behind this chat account; nobody else sees it. */
async function ownCase(ctx: Context, caseId: number): Promise<CaseRow | null> {
  const row = await loadCase(ctx.tx, caseId);
  return row && row.customerId === (await ctx.customerId()) ? row : null;
}

async function describe(ctx: Context, row: CaseRow): Promise<string> {
  const line = ctx.text('myCases.line', {
    caseNo: row.id,
    kind: ctx.text(
      `case.card.kind.${row.kind === 'repair' && row.priority === 'P0' ? 'leak' : row.kind}` as TextKey,
    ),
    category: categoryLabel(ctx.deps, row.kind, row.category, ctx.lang) ?? '—',
    state: ctx.text(`case.state.${row.state}` as TextKey),
  });
  const clocks = await runningClocks(ctx, row.id);
  return (
    line +
    clocks
      .map((c) =>
        ctx.text('myCases.due', {
          clock: ctx.text(`clock.${c.kind}` as TextKey),
          time: formatTime(c.dueAt, ctx.lang),
        }),
      )
      .join('')
  );
}

/** 我的工单: the customer's open cases and the last few closed ones, with their promised times. */
export async function showMyCases(ctx: Context): Promise<void> {
  const customerId = await ctx.customerId();
  const open = await ctx.tx
    .select()
    .from(cases)
    .where(and(eq(cases.customerId, customerId), inArray(cases.state, ['open', 'taken', 'arrived'])))
    .orderBy(desc(cases.id))
    .limit(10);
  const closed = await ctx.tx
    .select()
    .from(cases)
    .where(and(eq(cases.customerId, customerId), inArray(cases.state, ['closed', 'cancelled'])))
    .orderBy(desc(cases.id))
    .limit(3);
  if (open.length + closed.length === 0) return ctx.say(ctx.text('myCases.none'));
  const lines = [];
  for (const row of [...open, ...closed]) lines.push(await describe(ctx, row));
  ctx.say([ctx.text('myCases.title'), ...lines].join('\n'));
}

/** 查询 <工单号>: one of the customer's own cases; anyone else's is "not found". */
export async function showOwnCase(ctx: Context, caseId: number): Promise<void> {
  const row = await ownCase(ctx, caseId);
  ctx.say(row ? await describe(ctx, row) : ctx.text('myCases.notFound', { caseNo: caseId }));
}

/** A rating button (`rate:<case>:<1-5>`): only the case's own customer, once, after it is closed. */
export async function rateCase(ctx: Context, action: string): Promise<boolean> {
  const m = /^rate:(\d{1,10}):([1-5])$/.exec(action);
  if (!m) return false;
  await applyRating(ctx, Number(m[1]), Number(m[2]));
  // A rating dialogue left waiting for a typed answer is done with.
  const key = { channel: ctx.msg.channel, chatId: ctx.msg.chatId, userId: ctx.msg.sender.id };
  const waiting = await loadDialogue(ctx.tx, key);
  if (waiting?.flow === ratingFlow.id) await clearDialogue(ctx.tx, key);
  return true;
}

/** Stores a rating of the customer's own closed case, once. */
async function applyRating(ctx: Context, caseId: number, rating: number): Promise<boolean> {
  const row = await ownCase(ctx, caseId);
  if (!row) {
    ctx.say(ctx.text('rating.notYours'));
    return true;
  }
  if (row.state !== 'closed') {
    ctx.say(ctx.text('rating.notClosed', { caseNo: caseId }));
    return true;
  }
  const [rated] = await ctx.tx
    .update(cases)
    .set({ rating, ratedAt: ctx.now })
    .where(and(eq(cases.id, caseId), eq(cases.state, 'closed'), isNull(cases.rating)))
    .returning({ id: cases.id });
  if (!rated) {
    ctx.say(ctx.text('rating.already', { caseNo: caseId }));
    return true;
  }
  await recordEvent(ctx, {
    caseId,
    actorKind: 'customer',
    actorId: String(row.customerId),
    type: 'rated',
    data: { rating },
  });
  ctx.say(ctx.text('rating.thanks'));
  return true;
}

const SCORES = [5, 4, 3, 2, 1] as const;

/** The rating buttons for a closed case, best first. */
export function ratingChoices(ctx: Pick<Context, 'deps'>, caseId: number, lang: 'zh' | 'en') {
  return SCORES.map((n) => ({
    label: ctx.deps.t(lang, `rating.${n}` as TextKey),
    action: `rate:${caseId}:${n}`,
  }));
}

interface RatingData extends Record<string, unknown> {
  caseId?: number;
}

/**
 * On channels without buttons the customer answers the rating with a number: this one-step
 * dialogue is set up when the result is sent (if they are not in another dialogue).
 */
export const ratingFlow = defineFlow<RatingData>({
  id: 'rating',
  version: 1,
  start: 'score',
  initial: () => ({}),
  exclusive: true,
  steps: {
    score: {
      expects: 'choice',
      ask: (ctx, data) => ({
        text: ctx.text('rating.prompt', { caseNo: data.caseId ?? '' }),
        options: SCORES.map((n) => ({ value: String(n), label: ctx.text(`rating.${n}` as TextKey) })),
      }),
      answer: (_ctx, data, input) => ({ done: true, data: { ...data, score: Number(input.choice) } }),
    },
  },
  async complete(ctx, data) {
    if (data.caseId && SCORES.includes(data.score as 1))
      await applyRating(ctx, data.caseId, data.score as number);
  },
});

interface RelayData extends Record<string, unknown> {
  caseId?: number;
}

/** The customer's answer to a staff question (联系客户), relayed to the case's team. */
export const relayFlow = defineFlow<RelayData>({
  id: 'relay',
  version: 1,
  start: 'answer',
  initial: () => ({}),
  steps: {
    answer: {
      expects: 'text',
      ask: (ctx, data) => ({ text: ctx.text('relay.prompt', { caseNo: data.caseId ?? '' }) }),
      answer: (_ctx, data, input) => ({ done: true, data: { ...data, text: input.text } }),
    },
  },
  async complete(ctx, data) {
    const row = data.caseId ? await ownCase(ctx, data.caseId) : null;
    if (!row?.teamId) return;
    const text = String(data.text ?? '').slice(0, 1000);
    await recordEvent(ctx, {
      caseId: row.id,
      actorKind: 'customer',
      type: 'customer_answered',
      data: { length: text.length },
    });
    await notifyTeam(ctx, {
      teamId: row.teamId,
      reply: { text: ctx.deps.t('zh', 'staff.customerAnswer', { caseNo: row.id, text }) },
    });
    ctx.say(ctx.text('customer.answerSent'));
  },
});
