import { and, eq, type SQL, sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.ts';
import { dialogues } from '../../db/schema/index.ts';
import { type Batch, batchOf, eachKey, rowOf, sendStatement } from './batch.ts';
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

/** The dialogues of the keys, found by primary key one key at a time (see eachKey). */
const byKeys = (keys: DialogueKey[], columns: SQL) =>
  eachKey(
    keys.map((k) => [k.channel, k.chatId, k.userId]),
    sql`select ${columns} from ${dialogues}
        where ${dialogues.channel} = k->>0 and ${dialogues.chatId} = k->>1 and ${dialogues.userId} = k->>2`,
  );

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
  await sendStatement(
    tx,
    sql`select count(pg_advisory_xact_lock(h)) from (select distinct hashtextextended(k, 0) as h from json_array_elements_text(${JSON.stringify(lockKeys)}::json) as k order by 1) as s`,
  );
  const batch = batchOf(tx);
  if (batch) for (const k of lockKeys) batch.locked.add(k);
}

export async function loadDialogue(tx: DbOrTx, key: DialogueKey): Promise<DialogueRow | null> {
  const batch = batchOf(tx);
  if (batch)
    return batch
      .coalescer<DialogueKey, DialogueRow | null>('dialogue.load', (keys) => loadDialogues(tx, keys))
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

/** Several dialogues in one statement, one per key (null: none), in the order of the keys. */
export async function loadDialogues(tx: DbOrTx, keys: DialogueKey[]): Promise<(DialogueRow | null)[]> {
  if (keys.length === 0) return [];
  const rows = (await sendStatement(tx, sql`select x.* from ${byKeys(keys, sql`*`)}`)).map((r) =>
    rowOf(dialogues, r),
  );
  const byKey = new Map(rows.map((r) => [keyOf(r as DialogueKey), r]));
  return keys.map((k) => byKey.get(keyOf(k)) ?? null);
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
  // Fields written out: in V8 (Node 20) every property after a spread in an object literal is
  // defined by a slow runtime call, about 1 µs each on a small machine, and this runs per message.
  const values: DialogueValues = {
    channel: key.channel,
    chatId: key.chatId,
    userId: key.userId,
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
  if (batch) return writeInBatch(batch, tx, key, values);
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
  if (batch) return writeInBatch(batch, tx, key, null);
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

/**
 * A batch's dialogue writes are deferred (nobody waits for them) and only the last one of each
 * dialogue counts: a clear followed by a save is the save. They go out as one delete and one
 * upsert, sent together, the rows as one JSON parameter each.
 */
function writeInBatch(
  batch: Batch,
  tx: DbOrTx,
  key: DialogueKey,
  values: DialogueValues | null,
): Promise<void> {
  return batch
    .coalescer<{ key: DialogueKey; values: DialogueValues | null }, void>(
      'dialogue.write',
      async (all) => {
        const last = new Map<string, { key: DialogueKey; values: DialogueValues | null }>();
        for (const w of all) {
          const k = keyOf(w.key);
          last.delete(k); // re-inserted: the map keeps the order of the last writes
          last.set(k, w);
        }
        const cleared = [...last.values()].filter((w) => w.values === null).map((w) => w.key);
        const saved = [...last.values()].flatMap((w) => (w.values ? [w.values] : []));
        const sent: Promise<unknown>[] = [];
        if (cleared.length > 0)
          sent.push(
            sendStatement(
              tx,
              sql`delete from ${dialogues} where ctid = any(array(select x.ctid from ${byKeys(cleared, sql`ctid`)}))`,
            ),
          );
        if (saved.length > 0) sent.push(sendStatement(tx, upsertDialogues(saved)));
        await Promise.all(sent);
        return all.map(() => undefined);
      },
      { deferred: true },
    )
    .call({ key, values });
}

/** Saves several dialogues (of different keys) in one statement; each save bumps the revision. */
function upsertDialogues(rows: DialogueValues[]): SQL {
  return sql`
    insert into dialogues (channel, chat_id, user_id, flow, flow_version, step, data, history, offered, lang, updated_at, reminded_at)
    select r.channel, r.chat_id, r.user_id, r.flow, r.flow_version, r.step, r.data, r.history, r.offered, r.lang, r.updated_at, null
    from jsonb_to_recordset(${JSON.stringify(
      rows.map((v) => ({
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
    )}::jsonb) as r(channel text, chat_id text, user_id text, flow text, flow_version int, step text,
                   data jsonb, history jsonb, offered jsonb, lang text, updated_at timestamptz)
    on conflict (channel, chat_id, user_id) do update set
      flow = excluded.flow, flow_version = excluded.flow_version, step = excluded.step,
      data = excluded.data, history = excluded.history, offered = excluded.offered,
      lang = excluded.lang, updated_at = excluded.updated_at, reminded_at = null,
      revision = dialogues.revision + 1`;
}
