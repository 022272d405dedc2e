import { asc } from 'drizzle-orm';
import type { Db, Tx } from '../db/client.ts';
import { outbox } from '../db/schema/index.ts';
import { inJson } from '../flows/engine/batch.ts';
import type { Effects, Kicker } from '../flows/engine/effects.ts';
import { describeError, type Logger } from '../log.ts';
import { type DeliverResult, deliverOutbox, waitingRecheckMs } from './deliver-outbox.ts';
import type { Senders } from './senders.ts';

/** How long a row of a batch whose send failed waits before its own job tries again. */
export const BATCH_RETRY_DELAY_MS = 1000;

/** Chats of one batch delivered side by side. */
export const BATCH_DELIVERY_CONCURRENCY = 8;

export interface BatchOutcome {
  sent: number;
  /** Rows handed to jobs of their own (a wait, a failed send, or behind one in their chat). */
  requeued: number;
}

/**
 * Delivers the rows of one wake-up (the replies of one inbound transaction): in order within each
 * chat, chats side by side. Each row goes through `deliverOutbox`, so a row is still sent at most
 * once however often the batch runs. A row that has to wait (a rate limit, an earlier row of its
 * chat pending elsewhere) or whose send failed gets a job of its own (`requeue`, with the usual
 * retries), and so do the rows behind it in its chat, which must not overtake it. The rows that
 * went through need no job at all: that is what makes a batch cheaper than a job per row.
 */
export async function deliverBatch(
  db: Db,
  senders: Senders,
  opts: {
    outboxIds: number[];
    kicker: Kicker;
    log: Logger;
    requeue(outboxId: number, delayMs: number): Promise<void>;
    onDead?: (
      tx: Tx,
      row: { id: number; channel: string; chatId: string },
      reason: string,
    ) => Promise<Effects>;
    concurrency?: number;
    /** Runs each send (the worker's limit on sends at once, shared with its other jobs). */
    slot?: <T>(send: () => Promise<T>) => Promise<T>;
  },
): Promise<BatchOutcome> {
  const rows = await db
    .select({ id: outbox.id, chatId: outbox.chatId })
    .from(outbox)
    .where(inJson(outbox.id, opts.outboxIds, 'int'))
    .orderBy(asc(outbox.id));
  const chats = new Map<string, number[]>();
  for (const r of rows) {
    const ids = chats.get(r.chatId);
    if (ids) ids.push(r.id);
    else chats.set(r.chatId, [r.id]);
  }
  const inBatch = new Set(rows.map((r) => r.id));
  // The next row of a chat is this loop's to send: waking it through the queue would only race it.
  const kicker: Kicker = {
    kick: (effects) => opts.kicker.kick(effects),
    wakeNext: async (channel, id) => {
      if (!inBatch.has(id)) await opts.kicker.wakeNext?.(channel, id);
    },
  };
  const slot = opts.slot ?? ((send) => send());
  const outcome: BatchOutcome = { sent: 0, requeued: 0 };
  const deliverChat = async (ids: number[]) => {
    for (let i = 0; i < ids.length; i++) {
      let result: DeliverResult;
      let delayMs: number;
      try {
        result = await slot(() =>
          deliverOutbox(db, senders, { outboxId: ids[i]!, kicker, lastAttempt: false, onDead: opts.onDead }),
        );
        if (typeof result !== 'object') {
          if (result === 'sent') outcome.sent++;
          continue;
        }
        delayMs = result.waitMs;
      } catch (err) {
        opts.log.warn(
          { outboxId: ids[i], err: describeError(err) },
          'send failed; the message gets its own job',
        );
        delayMs = BATCH_RETRY_DELAY_MS;
      }
      await opts.requeue(ids[i]!, delayMs);
      // The rest of the chat waits behind it; each is woken when the one before is done (wakeNext),
      // and looks again after a while on its own.
      for (let j = i + 1; j < ids.length; j++) await opts.requeue(ids[j]!, waitingRecheckMs(j - i));
      outcome.requeued += ids.length - i;
      return;
    }
  };
  const queue = [...chats.values()];
  const lanes = Array.from(
    { length: Math.min(queue.length, opts.concurrency ?? BATCH_DELIVERY_CONCURRENCY) },
    async () => {
      for (let ids = queue.shift(); ids; ids = queue.shift()) await deliverChat(ids);
    },
  );
  await Promise.all(lanes);
  return outcome;
}
