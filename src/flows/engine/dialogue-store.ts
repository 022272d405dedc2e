import { and, eq, sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.ts';
import { dialogues } from '../../db/schema/index.ts';
import type { Channel, Choice, Lang } from './message.ts';

export type DialogueRow = typeof dialogues.$inferSelect;
export interface DialogueKey {
  channel: Channel;
  chatId: string;
  userId: string;
}

/**
 * Serialises everything one user does in one chat: two messages of the same person are never
 * handled at once (the lock ends with the transaction).
 */
export async function lockDialogue(tx: DbOrTx, key: DialogueKey): Promise<void> {
  const lockKey = JSON.stringify([key.channel, key.chatId, key.userId]);
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${lockKey}, 0))`);
}

export async function loadDialogue(tx: DbOrTx, key: DialogueKey): Promise<DialogueRow | null> {
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
  const values = {
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
  await tx
    .insert(dialogues)
    .values(values)
    .onConflictDoUpdate({
      target: [dialogues.channel, dialogues.chatId, dialogues.userId],
      set: { ...values, revision: sql`${dialogues.revision} + 1` },
    });
}

export async function clearDialogue(tx: DbOrTx, key: DialogueKey): Promise<void> {
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
