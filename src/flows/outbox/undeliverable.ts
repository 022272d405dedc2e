import { and, desc, eq, inArray } from 'drizzle-orm';
import { cases, teamChats } from '../../db/schema/index.ts';
import { notifyTeam } from '../cases/notify.ts';
import type { Work } from '../work.ts';

/**
 * A message to a customer that can never be delivered (WeChat's 48-hour window closed, the user
 * blocked the bot) is not dropped: the team of the customer's latest open case, or the default
 * team, gets a task to phone the customer.
 */
export async function reportUndeliverable(
  w: Work,
  row: { id: number; channel: string; chatId: string },
  reason: string,
): Promise<void> {
  // Messages to staff groups are not customers' messages.
  const [group] = await w.tx
    .select()
    .from(teamChats)
    .where(and(eq(teamChats.channel, row.channel), eq(teamChats.chatId, row.chatId)));
  if (group) return;
  const [open] = await w.tx
    .select()
    .from(cases)
    .where(
      and(
        eq(cases.channel, row.channel),
        eq(cases.chatId, row.chatId),
        inArray(cases.state, ['open', 'taken', 'arrived']),
      ),
    )
    .orderBy(desc(cases.id))
    .limit(1);
  const teamId = open?.teamId ?? w.deps.policy.routing.default;
  const text = w.deps.t('zh', open ? 'staff.callCustomer' : 'staff.callCustomerNoCase', {
    caseNo: open?.id ?? '',
    reason,
  });
  await notifyTeam(w, { teamId, reply: { text }, dedupKey: `undeliverable:${row.id}` });
}
