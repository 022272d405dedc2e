import { and, eq, sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.ts';
import { dialogues } from '../../db/schema/index.ts';
import { batchOf, distinctRounds } from './batch.ts';
import type { Channel, Choice, Lang } from './message.ts';

export type DialogueRow = typeof dialogues.$inferSelect;
export interface DialogueKey {
  channel: Channel;
  chatId: string;
  userId: string;
}
type DialogueValues = typeof dialogues.$inferInsert;

/** The advisory lock key of a dialogue (also taken, for a whole batch, by `lockDialogues`). */
export const dialogueLockKey = (key: DialogueKey) => JSON.stringify([key.channel, key.chatId, key.userId]);
const keyOf = (key: DialogueKey) => `${key.channel}\u0000${key.chatId}\u0000${key.userId}`;

/** The dialogue keys as one JSON parameter, matched with `(channel, chat_id, user_id) in keys`. */
const keysMatch = (keys: DialogueKey[]) =>
  sql`(${dialogues.channel}, ${dialogues.chatId}, ${dialogues.userId}) in (select k.channel, k.chat_id, k.user_id from json_to_recordset(${JSON.stringify(
    keys.map((k) => ({ channel: k.channel, chat_id: k.chatId, user_id: k.userId })),
  )}::json) as k(channel text, chat_id text, user_id text))`;

/**
 * Serialises everything one user does in one chat: two messages of the same person are never
 * handled at once (the lock ends with the transaction). A batch took its messages' locks already.
 */
export async function lockDialogue(tx: DbOrTx, key: DialogueKey): Promise<void> {
  const lockKey = dialogueLockKey(key);
  if (batchOf(tx)?.locked.has(lockKey)) return;
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${lockKey}, 0))`);
}

/** Locks several dialogues in one statement, always in the same order (no deadlock between batches). */
export async function lockDialogues(tx: DbOrTx, keys: DialogueKey[]): Promise<void> {
  if (keys.length === 0) return;
  const lockKeys = [...new Set(keys.map(dialogueLockKey))];
  await tx.execute(
    sql`select count(pg_advisory_xact_lock(h)) from (select distinct hashtextextended(k, 0) as h from json_array_elements_text(${JSON.stringify(lockKeys)}::json) as k order by 1) as s`,
  );
  const batch = batchOf(tx);
  if (batch) for (const k of lockKeys) batch.locked.add(k);
}

export async function loadDialogue(tx: DbOrTx, key: DialogueKey): Promise<DialogueRow | null> {
  const batch = batchOf(tx);
  if (batch)
    return batch
      .coalescer<DialogueKey, DialogueRow | null>('dialogue.load', async (keys) => {
        const rows = await tx.select().from(dialogues).where(keysMatch(keys));
        const byKey = new Map(rows.map((r) => [keyOf(r as DialogueKey), r]));
        return keys.map((k) => byKey.get(keyOf(k)) ?? null);
      })
      .call(key);
  const rows = await tx
    .select()
    .from(dialogues)
    .where(
      and(
        eq(dialogues.channel, key.channel),
        eq(dialogues.chatId, key.chatId),
        eq(dialogues.userId, key.userId),
      ),
    );
  return rows[0] ?? null;
}

/** Saves where the user is; each save bumps the revision. */
export async function saveDialogue(
  tx: DbOrTx,
  key: DialogueKey,
  state: {
    flow: string;
    flowVersion: number;
    step: string;
    data: Record<string, unknown>;
    history: string[];
    offered: Choice[];
    lang: Lang;
    now: Date;
  },
): Promise<void> {
  const values: DialogueValues = {
    ...key,
    flow: state.flow,
    flowVersion: state.flowVersion,
    step: state.step,
    data: state.data,
    history: state.history,
    offered: state.offered,
    lang: state.lang,
    updatedAt: state.now,
    remindedAt: null,
  };
  const batch = batchOf(tx);
  if (batch)
    return batch
      .coalescer<DialogueValues, void>('dialogue.save', async (all) => {
        // One upsert may not touch a row twice: a key saved twice in one round goes in order.
        // The rows travel as one JSON parameter (no per-value work in the query builder).
        for (const round of distinctRounds(all, (v) => keyOf(v as DialogueKey)))
          await tx.execute(sql`
            insert into dialogues (channel, chat_id, user_id, flow, flow_version, step, data, history, offered, lang, updated_at, reminded_at)
            select r.channel, r.chat_id, r.user_id, r.flow, r.flow_version, r.step, r.data, r.history, r.offered, r.lang, r.updated_at, null
            from json_to_recordset(${JSON.stringify(
              round.map((v) => ({
                channel: v.channel,
                chat_id: v.chatId,
                user_id: v.userId,
                flow: v.flow,
                flow_version: v.flowVersion,
                step: v.step,
                data: v.data,
                history: v.history,
                offered: v.offered,
                lang: v.lang,
                updated_at: (v.updatedAt as Date).toISOString(),
              })),
            )}::json) as r(channel text, chat_id text, user_id text, flow text, flow_version int, step text,
                           data jsonb, history jsonb, offered jsonb, lang text, updated_at timestamptz)
            on conflict (channel, chat_id, user_id) do update set
              flow = excluded.flow, flow_version = excluded.flow_version, step = excluded.step,
              data = excluded.data, history = excluded.history, offered = excluded.offered,
              lang = excluded.lang, updated_at = excluded.updated_at, reminded_at = null,
              revision = dialogues.revision + 1`);
        return all.map(() => undefined);
      })
      .call(values);
  await tx
    .insert(dialogues)
    .values(values)
    .onConflictDoUpdate({
      target: [dialogues.channel, dialogues.chatId, dialogues.userId],
      set: { ...values, revision: sql`${dialogues.revision} + 1` },
    });
}

export async function clearDialogue(tx: DbOrTx, key: DialogueKey): Promise<void> {
  const batch = batchOf(tx);
  if (batch)
    return batch
      .coalescer<DialogueKey, void>('dialogue.clear', async (keys) => {
        await tx.delete(dialogues).where(keysMatch(keys));
        return keys.map(() => undefined);
      })
      .call(key);
  await tx
    .delete(dialogues)
    .where(
      and(
        eq(dialogues.channel, key.channel),
        eq(dialogues.chatId, key.chatId),
        eq(dialogues.userId, key.userId),
      ),
    );
}
