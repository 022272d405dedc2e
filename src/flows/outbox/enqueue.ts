import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.ts';
import { outbox } from '../../db/schema/index.ts';
import type { Effects } from '../engine/effects.ts';
import type { Channel, Reply } from '../engine/message.ts';

/**
 * Queues a message for delivery, in the caller's transaction. With a `dedupKey`, a second call
 * with the same key (a repeated job) queues nothing.
 */
export async function enqueueMessage(
  tx: DbOrTx,
  opts: { channel: Channel; chatId: string; reply: Reply; now: Date; effects: Effects; dedupKey?: string },
): Promise<number | null> {
  const rows = await tx
    .insert(outbox)
    .values({
      channel: opts.channel,
      chatId: opts.chatId,
      payload: opts.reply as unknown as Record<string, unknown>,
      createdAt: opts.now,
      dedupKey: opts.dedupKey ?? null,
      caseId: opts.reply.card && opts.reply.caseId ? opts.reply.caseId : null,
    })
    .onConflictDoNothing({ target: outbox.dedupKey, where: sql`${outbox.dedupKey} IS NOT NULL` })
    .returning({ id: outbox.id });
  const id = rows[0]?.id ?? null;
  if (id !== null) {
    opts.effects.outboxIds.push(id);
    opts.effects.outboxChannels ??= {};
    opts.effects.outboxChannels[id] = opts.channel;
  }
  return id;
}
