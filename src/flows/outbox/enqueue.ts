import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.ts';
import { outbox } from '../../db/schema/index.ts';
import { batchOf } from '../engine/batch.ts';
import type { Effects } from '../engine/effects.ts';
import type { Channel, Reply } from '../engine/message.ts';

type OutboxValues = typeof outbox.$inferInsert;

/**
 * Queues a message for delivery, in the caller's transaction. With a `dedupKey`, a second call
 * with the same key (a repeated job) queues nothing. In a batch, the rows queued in one turn of
 * the event loop are inserted by one statement, in the order they were queued.
 */
export async function enqueueMessage(
  tx: DbOrTx,
  opts: { channel: Channel; chatId: string; reply: Reply; now: Date; effects: Effects; dedupKey?: string },
): Promise<number | null> {
  const values: OutboxValues = {
    channel: opts.channel,
    chatId: opts.chatId,
    payload: opts.reply as unknown as Record<string, unknown>,
    createdAt: opts.now,
    dedupKey: opts.dedupKey ?? null,
    caseId: opts.reply.card && opts.reply.caseId ? opts.reply.caseId : null,
  };
  const batch = batchOf(tx);
  const id = batch
    ? await batch.coalescer('outbox.insert', (all: OutboxValues[]) => insertRows(tx, all)).call(values)
    : ((await insertRows(tx, [values]))[0] ?? null);
  if (id !== null) {
    opts.effects.outboxIds.push(id);
    opts.effects.outboxChannels ??= {};
    opts.effects.outboxChannels[id] = opts.channel;
  }
  return id;
}

/**
 * Inserts rows in order (ids ascend with it, which is the delivery order within a chat) and
 * returns each row's id, or null for a row whose dedup key was queued before.
 */
async function insertRows(tx: DbOrTx, rows: OutboxValues[]): Promise<(number | null)[]> {
  if (rows.length === 1) {
    const inserted = await tx
      .insert(outbox)
      .values(rows)
      .onConflictDoNothing({ target: outbox.dedupKey, where: sql`${outbox.dedupKey} IS NOT NULL` })
      .returning({ id: outbox.id });
    return [inserted[0]?.id ?? null];
  }
  // Several rows travel as one JSON parameter; json_to_recordset yields them in order.
  const result = await tx.execute<{ id: string | number; dedup_key: string | null }>(sql`
    insert into outbox (channel, chat_id, payload, created_at, dedup_key, case_id)
    select r.channel, r.chat_id, r.payload, r.created_at, r.dedup_key, r.case_id
    from json_to_recordset(${JSON.stringify(
      rows.map((r) => ({
        channel: r.channel,
        chat_id: r.chatId,
        payload: r.payload,
        created_at: (r.createdAt as Date).toISOString(),
        dedup_key: r.dedupKey ?? null,
        case_id: r.caseId ?? null,
      })),
    )}::json) as r(channel text, chat_id text, payload jsonb, created_at timestamptz, dedup_key text, case_id int)
    on conflict (dedup_key) where dedup_key is not null do nothing
    returning id, dedup_key`);
  const inserted = [...result].map((r) => ({ id: Number(r.id), dedupKey: r.dedup_key }));
  const byKey = new Map<string, number>();
  const plain: number[] = [];
  for (const r of inserted) {
    if (r.dedupKey === null) plain.push(r.id);
    else byKey.set(r.dedupKey, r.id);
  }
  plain.sort((a, b) => a - b);
  let next = 0;
  return rows.map((r) => {
    if (!r.dedupKey) return plain[next++] ?? null;
    const id = byKey.get(r.dedupKey) ?? null;
    byKey.delete(r.dedupKey); // the same key twice in one statement: the first row holds it
    return id;
  });
}
