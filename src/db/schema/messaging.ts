import { sql } from 'drizzle-orm';
import {
  bigint,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

/**
 * Every inbound message, stored before it is processed. The unique key on the channel's own
 * message id makes a redelivery a no-op.
 */
export const inboundMessages = pgTable(
  'inbound_messages',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    channel: text('channel').notNull(),
    channelMessageId: text('channel_message_id').notNull(),
    chatId: text('chat_id').notNull(),
    senderId: text('sender_id').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull(),
    processedAt: timestamp('processed_at', { withTimezone: true }),
    attempts: integer('attempts').notNull().default(0),
    error: text('error'),
  },
  (t) => [
    uniqueIndex('inbound_channel_msg_uq').on(t.channel, t.channelMessageId),
    index('inbound_unprocessed_idx').on(t.receivedAt).where(sql`processed_at IS NULL`),
    // The customer's last message on the official account (WeChat's 48-hour window): the only
    // look-up by sender, so the other channels' messages (most of them) are not indexed here. The
    // look-up names the channel as a literal, so that a prepared statement's plan can use it.
    index('inbound_oa_sender_idx').on(t.senderId, t.receivedAt.desc()).where(sql`channel = 'wechat-oa'`),
  ],
);

/**
 * Outbound messages. Written in the same transaction as the change that causes them, delivered
 * by a BullMQ worker in id order per chat.
 */
export const outbox = pgTable(
  'outbox',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    channel: text('channel').notNull(),
    chatId: text('chat_id').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    /** pending → sent | dead */
    state: text('state').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    /** Set for messages that must not be produced twice by a repeated job (e.g. a deadline's escalation). */
    dedupKey: text('dedup_key'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    sentAt: timestamp('sent_at', { withTimezone: true }),
    /** The channel's id for the sent message (to edit a card in place later). */
    externalId: text('external_id'),
    /** Set for case cards, so the next card of the case in this chat can replace this one. */
    caseId: integer('case_id'),
    error: text('error'),
  },
  (t) => [
    index('outbox_chat_idx').on(t.channel, t.chatId, t.id),
    index('outbox_card_idx').on(t.channel, t.chatId, t.caseId).where(sql`case_id IS NOT NULL`),
    index('outbox_pending_idx').on(t.createdAt).where(sql`state = 'pending'`),
    // Most rows (replies) have no key: they are not indexed here. The insert's conflict target
    // names the same condition, so PostgreSQL takes this index for it.
    uniqueIndex('outbox_dedup_uq').on(t.dedupKey).where(sql`dedup_key IS NOT NULL`),
  ],
);

/**
 * Where a user is in a dialogue. `flowVersion` pins the flow definition the state was made
 * with; a changed flow restarts instead of replaying stale state. `revision` guards writes.
 */
export const dialogues = pgTable(
  'dialogues',
  {
    channel: text('channel').notNull(),
    chatId: text('chat_id').notNull(),
    userId: text('user_id').notNull(),
    flow: text('flow').notNull(),
    flowVersion: integer('flow_version').notNull(),
    step: text('step').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
    history: jsonb('history').$type<string[]>().notNull().default([]),
    /** The choices last offered, so "2" or the label answers them on text-only channels. */
    offered: jsonb('offered').$type<{ label: string; action: string }[]>().notNull().default([]),
    lang: text('lang').notNull().default('zh'),
    revision: integer('revision').notNull().default(0),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
    remindedAt: timestamp('reminded_at', { withTimezone: true }),
  },
  // No index but the key: a save moves `updated_at`, and an index on it would turn every save into
  // a new row version with new index entries instead of a rewrite in place (HOT). The idle sweep,
  // twice a minute, reads the table through (it holds the dialogues in progress only).
  (t) => [primaryKey({ columns: [t.channel, t.chatId, t.userId] })],
);
