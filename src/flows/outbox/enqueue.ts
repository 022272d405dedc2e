import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.ts';
import type { outbox } from '../../db/schema/index.ts';
import { sendStatement, viaBatch } from '../engine/batch.ts';
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

/** Several rows as one JSON parameter; jsonb_to_recordset yields them in array order. */
async function insertMany(tx: DbOrTx, rows: OutboxValues[]): Promise<(number | null)[]> {
  const result = await sendStatement<{ id: string | number; dedup_key: string | null }>(
    tx,
    sql`
    insert into outbox (channel, chat_id, payload, created_at, dedup_key, case_id)
    select r.channel, r.chat_id, r.payload, r.created_at, r.dedup_key, r.case_id
    from jsonb_to_recordset(${JSON.stringify(
      rows.map((r) => ({
        channel: r.channel,
        chat_id: r.chatId,
        payload: r.payload,
        created_at: (r.createdAt as Date).toISOString(),
        dedup_key: r.dedupKey ?? null,
        case_id: r.caseId ?? null,
      })),
    )}::jsonb) as r(channel text, chat_id text, payload jsonb, created_at timestamptz, dedup_key text, case_id int)
    on conflict (dedup_key) where dedup_key is not null do nothing
    returning id, dedup_key`,
  );
  const inserted = result.map((r) => ({ id: Number(r.id), dedupKey: r.dedup_key }));
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
