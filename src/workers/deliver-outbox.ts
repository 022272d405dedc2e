import { and, asc, desc, eq, gt, lt } from 'drizzle-orm';
import type { Db, DbOrTx, Tx } from '../db/client.ts';
import { outbox } from '../db/schema/index.ts';
import type { Effects, Kicker } from '../flows/engine/effects.ts';
import type { Channel, Reply } from '../flows/engine/message.ts';
import { moveGroupChat } from '../flows/org/move-chat.ts';
import { SendError, type Senders } from './senders.ts';

export type DeliverResult = 'sent' | 'done' | 'dead' | { waitMs: number };

/**
 * Delivers one outbox row, in order within its chat: a row waits while an earlier row of the same
 * chat is pending. The row stays locked while it is sent, so two workers never send it twice;
 * a crash mid-send leaves it pending and it is sent again (at least once, never silently lost).
 */
export async function deliverOutbox(
  db: Db,
  senders: Senders,
  opts: {
    outboxId: number;
    kicker: Kicker;
    lastAttempt: boolean;
    now?: () => Date;
    /** Told, in the same transaction, of a message that will never be delivered (so it is not silently lost). */
    onDead?: (
      tx: Tx,
      row: { id: number; channel: string; chatId: string },
      reason: string,
    ) => Promise<Effects>;
  },
): Promise<DeliverResult> {
  const now = opts.now ?? (() => new Date());
  let afterCommit: Effects | undefined;
  let finished: { channel: string; chatId: string; id: number } | undefined;
  const result = await db.transaction(async (tx): Promise<DeliverResult | SendError> => {
    // SKIP LOCKED, not NOWAIT: a lock error would abort the whole transaction.
    const [row] = await tx
      .select()
      .from(outbox)
      .where(eq(outbox.id, opts.outboxId))
      .for('update', { skipLocked: true });
    if (!row) {
      const [exists] = await tx
        .select({ state: outbox.state })
        .from(outbox)
        .where(eq(outbox.id, opts.outboxId));
      // Locked by another worker that is sending it right now: look again shortly.
      return exists?.state === 'pending' ? { waitMs: 500 } : 'done';
    }
    if (row.state !== 'pending') return 'done';
    // As many as the recheck below counts (see waitingRecheckMs).
    const earlier = await pendingBeside(
      tx,
      row,
      'before',
      WAITING_ROW_RECHECK_MAX_MS / WAITING_ROW_RECHECK_MS,
    );
    if (earlier.length > 0) {
      // Make sure the earlier row has a job (after commit: never wait on the pool inside a transaction).
      afterCommit = { outboxIds: [earlier[0]!], deadlines: [] };
      // The earlier row wakes this one when it is done (wakeNext); this sleep is the safety net,
      // longer the further back in the chat's queue the row is.
      return { waitMs: waitingRecheckMs(earlier.length) };
    }
    const sender = senders[row.channel as keyof Senders];
    if (!sender) {
      await tx
        .update(outbox)
        .set({ state: 'dead', error: `no sender for channel ${row.channel}`, attempts: row.attempts + 1 })
        .where(eq(outbox.id, row.id));
      return 'dead';
    }
    const [previous] = row.caseId
      ? await tx
          .select({ externalId: outbox.externalId })
          .from(outbox)
          .where(
            and(
              eq(outbox.channel, row.channel),
              eq(outbox.chatId, row.chatId),
              eq(outbox.caseId, row.caseId),
              eq(outbox.state, 'sent'),
              lt(outbox.id, row.id),
            ),
          )
          .orderBy(desc(outbox.id))
          .limit(1)
      : [];
    try {
      const result = await sender.send({
        outboxId: row.id,
        chatId: row.chatId,
        reply: row.payload as unknown as Reply,
        previousExternalId: previous?.externalId ?? undefined,
      });
      await tx
        .update(outbox)
        .set({
          state: 'sent',
          sentAt: now(),
          externalId: result.externalId ?? null,
          attempts: row.attempts + 1,
          error: null,
        })
        .where(eq(outbox.id, row.id));
      finished = row;
      return 'sent';
    } catch (err) {
      const e = err instanceof SendError ? err : new SendError((err as Error).message ?? 'send failed');
      if (e.opts.retryAfterMs !== undefined) return { waitMs: e.opts.retryAfterMs };
      if (e.opts.movedTo && e.opts.movedTo !== row.chatId) {
        // The chat lives under a new id: its binding and waiting rows, this one included, move
        // there, and this row is sent again shortly, to the new id.
        await tx
          .update(outbox)
          .set({ attempts: row.attempts + 1, error: e.message.slice(0, 500) })
          .where(eq(outbox.id, row.id));
        await moveGroupChat(tx, { channel: row.channel as Channel, from: row.chatId, to: e.opts.movedTo });
        return { waitMs: MOVED_CHAT_RETRY_MS };
      }
      const dead = e.opts.permanent || opts.lastAttempt;
      await tx
        .update(outbox)
        .set({ state: dead ? 'dead' : 'pending', attempts: row.attempts + 1, error: e.message.slice(0, 500) })
        .where(eq(outbox.id, row.id));
      if (dead && opts.onDead) afterCommit = await opts.onDead(tx, row, e.message.slice(0, 200));
      if (dead) finished = row;
      // Returned, not thrown, so the attempt count above is committed; thrown below for BullMQ to retry.
      return dead ? 'dead' : e;
    }
  });
  if (afterCommit) await opts.kicker.kick(afterCommit);
  if (finished && opts.kicker.wakeNext) {
    const [next] = await pendingBeside(db, finished, 'after', 1);
    if (next) await opts.kicker.wakeNext(finished.channel, next);
  }
  if (result instanceof SendError) throw result;
  return result;
}

/**
 * Pending rows of the same chat before a row (the ones it waits for) or after it (the next is the
 * one to wake when it is done), oldest first, at most `limit`.
 */
async function pendingBeside(
  db: DbOrTx,
  row: { channel: string; chatId: string; id: number },
  side: 'before' | 'after',
  limit: number,
): Promise<number[]> {
  const rows = await db
    .select({ id: outbox.id })
    .from(outbox)
    .where(
      and(
        eq(outbox.channel, row.channel),
        eq(outbox.chatId, row.chatId),
        eq(outbox.state, 'pending'),
        side === 'before' ? lt(outbox.id, row.id) : gt(outbox.id, row.id),
      ),
    )
    .orderBy(asc(outbox.id))
    .limit(limit);
  return rows.map((r) => r.id);
}

/** How soon a row whose chat moved to a new id is sent again, there. */
export const MOVED_CHAT_RETRY_MS = 100;

/** How long a row waiting behind an earlier row of its chat sleeps before looking again, per row ahead. */
export const WAITING_ROW_RECHECK_MS = 2000;
/** The longest such sleep (a row far back in a chat that is held to 20 messages a minute). */
export const WAITING_ROW_RECHECK_MAX_MS = 60_000;

/**
 * The sleep of a row with `ahead` pending rows before it in its chat. It is only a safety net:
 * each row is woken as soon as the one before it is done. Rows far back in a long queue look
 * again rarely instead of every 2 s.
 */
export function waitingRecheckMs(ahead: number): number {
  return Math.min(WAITING_ROW_RECHECK_MAX_MS, WAITING_ROW_RECHECK_MS * Math.max(1, ahead));
}
