import { sql } from 'drizzle-orm';
import { index, integer, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/** A customer of the gas company (一户一档 keeps more later: accounts, class, care flag). */
export const customers = pgTable('customers', {
  id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
  name: text('name'),
  phone: text('phone'),
  address: text('address'),
  lang: text('lang').notNull().default('zh'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/** A chat identity (a Telegram user, a WeChat openid, a web chat user) bound to a customer. */
export const chatIdentities = pgTable(
  'chat_identities',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    channel: text('channel').notNull(),
    externalUserId: text('external_user_id').notNull(),
    customerId: integer('customer_id')
      .notNull()
      .references(() => customers.id, { onDelete: 'cascade' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().default(sql`now()`),
  },
  (t) => [
    uniqueIndex('chat_identities_channel_user_uq').on(t.channel, t.externalUserId),
    index('chat_identities_customer_idx').on(t.customerId),
  ],
);
