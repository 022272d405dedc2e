import { eq } from 'drizzle-orm';
import { customers } from '../../db/schema/index.ts';
import type { Context } from '../engine/context.ts';

/** What we already know of the customer (their last address and phone), to offer instead of asking. */
export async function knownContact(ctx: Context): Promise<{ phone: string | null; address: string | null }> {
  const id = await ctx.customerId();
  const [row] = await ctx.tx
    .select({ phone: customers.phone, address: customers.address })
    .from(customers)
    .where(eq(customers.id, id));
  return { phone: row?.phone ?? null, address: row?.address ?? null };
}

/** Remembers the address and phone a customer gave, for the next report. */
export async function rememberContact(
  ctx: Context,
  contact: { phone?: string | null; address?: string | null },
): Promise<void> {
  const id = await ctx.customerId();
  const set: { phone?: string; address?: string; updatedAt: Date } = { updatedAt: ctx.now };
  if (contact.phone) set.phone = contact.phone;
  if (contact.address) set.address = contact.address;
  await ctx.tx.update(customers).set(set).where(eq(customers.id, id));
}
