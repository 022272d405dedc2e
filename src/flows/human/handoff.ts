import { and, eq, inArray } from 'drizzle-orm';
import { cases } from '../../db/schema/index.ts';
import { openCase } from '../cases/open-case.ts';
import { routeCase } from '../cases/route-case.ts';
import { startClock } from '../deadlines/clocks.ts';
import type { Context } from '../engine/context.ts';
import type { Position } from '../engine/dialogue.ts';
import { formatTime } from '../engine/format.ts';

/**
 * 转人工: opens a case for a person to call or message the customer back, routed to the policy's
 * team, with a response clock. A customer who already waits for a person is told so.
 */
export async function handoffToHuman(ctx: Context, from: Position | null): Promise<void> {
  const customerId = await ctx.customerId();
  const [waiting] = await ctx.tx
    .select({ id: cases.id })
    .from(cases)
    .where(
      and(eq(cases.customerId, customerId), eq(cases.kind, 'human'), inArray(cases.state, ['open', 'taken'])),
    );
  if (waiting) return ctx.say(ctx.text('human.alreadyOpen', { caseNo: waiting.id }));
  const where = from ? `${from.flow.id}/${from.step}` : 'menu';
  const caseRow = await openCase(ctx, {
    kind: 'human',
    customerId,
    summary: from ? `${ctx.text('menu.human')}（${where}）` : ctx.text('menu.human'),
    details: { from: where },
  });
  const clock = await startClock(ctx, {
    caseId: caseRow.id,
    kind: 'respond',
    duration: ctx.deps.policy.deadlines.human.respond,
  });
  await routeCase(ctx, { caseRow });
  ctx.say(ctx.text('human.opened', { caseNo: caseRow.id, due: formatTime(clock.dueAt, ctx.lang) }));
}
