import { sql } from 'drizzle-orm';
import { customers } from '../../db/schema/index.ts';
import { distinctRounds, groupedBy, rowsOf, selectByIds, sendStatement, viaBatch } from '../engine/batch.ts';
import type { Context } from '../engine/context.ts';

/** What we already know of the customer (their last address and phone), to offer instead of asking. */
export async function knownContact(ctx: Context): Promise<{ phone: string | null; address: string | null }> {
  const id = await ctx.customerId();
  // Read with the message (a customer created just now has none).
  if (ctx.known) return { phone: ctx.known.phone, address: ctx.known.address };
  const row = await viaBatch(ctx.tx, 'customer.contact', id, async (ids) => {
    const rows = await selectByIds(ctx.tx, customers, customers.id, ids, 'int');
    return groupedBy(ids, rows, (r) => r.id).map((g) => g[0]);
  });
  return { phone: row?.phone ?? null, address: row?.address ?? null };
}

/** Remembers the address and phone a customer gave, for the next report. */
export async function rememberContact(
  ctx: Context,
  contact: { phone?: string | null; address?: string | null },
): Promise<void> {
  const id = await ctx.customerId();
  const change = { id, phone: contact.phone || null, address: contact.address || null };
  if (ctx.known)
    ctx.known = { id, phone: change.phone ?? ctx.known.phone, address: change.address ?? ctx.known.address };
  await viaBatch(
    ctx.tx,
    'customer.remember',
    change,
    async (all) => {
      // A customer changed twice in one round (two of their chats) goes in two statements, sent
      // together and run in order.
      await Promise.all(
        distinctRounds(all, (c) => String(c.id)).map((round) =>
          sendStatement(
            ctx.tx,
            sql`
            update customers c set phone = coalesce(r.phone, c.phone), address = coalesce(r.address, c.address),
              updated_at = ${ctx.now.toISOString()}::timestamptz
            from (${rowsOf(round, sql`id int, phone text, address text`)}) as r
            where c.id = r.id`,
          ),
        ),
      );
      return all.map(() => undefined);
    },
    { deferred: true },
  );
}
