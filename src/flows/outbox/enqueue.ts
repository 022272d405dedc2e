import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.ts';
import type { outbox } from '../../db/schema/index.ts';
import { drawnIds, sendStatement, viaBatch } from '../engine/batch.ts';
import type { Effects } from '../engine/effects.ts';
import type { Channel, Reply } from '../engine/message.ts';

type OutboxValues = typeof outbox.$inferInsert;

/**
 * Queues a message for delivery, in the caller's transaction. With a `dedupKey`, a second call
 * with the same key (a repeated job) queues nothing. In a batch the insert is deferred (nobody
 * waits for it): the rows queued until the next round go out as one statement, in the order they
 * were queued, and each row's id joins its effects when the statement returns (before the commit).
 */
export async function enqueueMessage(
  tx: DbOrTx,
  opts: { channel: Channel; chatId: string; reply: Reply; now: Date; effects: Effects; dedupKey?: string },
): Promise<void> {
  const values: OutboxValues = {
    channel: opts.channel,
    chatId: opts.chatId,
    payload: opts.reply as unknown as Record<string, unknown>,
    createdAt: opts.now,
    dedupKey: opts.dedupKey ?? null,
    caseId: opts.reply.card && opts.reply.caseId ? opts.reply.caseId : null,
  };
  await viaBatch(tx, 'outbox.insert', { values, effects: opts.effects }, (all) => insertRows(tx, all), {
    deferred: true,
  });
}

interface Queued {
  values: OutboxValues;
  effects: Effects;
}

/**
 * Inserts rows in order (ids ascend with it, which is the delivery order within a chat) and adds
 * each row's id to its effects; a row whose dedup key was queued before gets none.
 */
async function insertRows(tx: DbOrTx, queued: Queued[]): Promise<undefined[]> {
  const rows = queued.map((q) => q.values);
  const ids = await insertMany(tx, rows);
  queued.forEach((q, i) => {
    const id = ids[i];
    if (id === null || id === undefined) return;
    q.effects.outboxIds.push(id);
    q.effects.outboxChannels ??= {};
    q.effects.outboxChannels[id] = q.values.channel;
  });
  return queued.map(() => undefined);
}

/**
 * Several rows as one JSON parameter. Each row's id is its own (`drawnIds`): they ascend in the
 * order the rows were queued, the delivery order within a chat, and the statement returns which
 * row got which. A row whose dedup key exists already, or came earlier in the statement, gets null.
 */
async function insertMany(tx: DbOrTx, rows: OutboxValues[]): Promise<(number | null)[]> {
  const result = await sendStatement<{ n: string | number; id: string | number }>(
    tx,
    sql`
    with input as (
      select * from rows from (jsonb_to_recordset(${JSON.stringify(
        rows.map((r) => ({
          channel: r.channel,
          chat_id: r.chatId,
          payload: r.payload,
          created_at: (r.createdAt as Date).toISOString(),
          dedup_key: r.dedupKey ?? null,
          case_id: r.caseId ?? null,
        })),
      )}::jsonb) as (channel text, chat_id text, payload jsonb, created_at timestamptz, dedup_key text, case_id int))
        with ordinality as r(channel, chat_id, payload, created_at, dedup_key, case_id, n)),
    ${drawnIds('outbox')},
    inserted as (
      insert into outbox (id, channel, chat_id, payload, created_at, dedup_key, case_id) overriding system value
      select ids.id, r.channel, r.chat_id, r.payload, r.created_at, r.dedup_key, r.case_id
      from input as r join ids using (n)
      order by n
      on conflict (dedup_key) where dedup_key is not null do nothing
      returning id)
    select ids.n, inserted.id from inserted join ids using (id)`,
  );
  const idOf = new Map(result.map((r) => [Number(r.n), Number(r.id)]));
  return rows.map((_, i) => idOf.get(i + 1) ?? null);
}
