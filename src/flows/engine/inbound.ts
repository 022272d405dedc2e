import { and, asc, eq, isNull, lt, sql } from 'drizzle-orm';
import { beforeEachStatement, type Db, type DbOrTx, type Tx } from '../../db/client.ts';
import { inboundMessages } from '../../db/schema/index.ts';
import { describeError } from '../../log.ts';
import type { FlowDeps } from '../deps.ts';
import { findStaffByIdentities } from '../org/directory.ts';
import { enqueueMessage } from '../outbox/enqueue.ts';
import { beginBatch, eachKey, pairKey as messageKey, sendStatement } from './batch.ts';
import { findCustomersByIdentities } from './context.ts';
import { loadDialogues, lockDialogue, lockDialogues } from './dialogue-store.ts';
import { type Effects, emptyEffects } from './effects.ts';
import { handleMessage, type Preloaded } from './handle-message.ts';
import type { InboundMessage } from './message.ts';
import type { Services } from './router.ts';

/** After this many failed attempts a message is given up on, and the sender gets an apology. */
export const MAX_INBOUND_ATTEMPTS = 3;

/**
 * Stores an inbound message before anything else happens to it. The channel's message id is
 * unique: a redelivered message is reported as a duplicate and must not be processed again.
 */
export async function storeInbound(
  db: DbOrTx,
  msg: InboundMessage,
  /** For a message that needs no handling (e.g. WeChat's unsubscribe): stored as already processed. */
  opts: { processedAt?: Date; extra?: Record<string, unknown> } = {},
): Promise<{ id: number; duplicate: boolean }> {
  const inserted = await db
    .insert(inboundMessages)
    .values(inboundValues(msg, opts))
    .onConflictDoNothing({ target: [inboundMessages.channel, inboundMessages.channelMessageId] })
    .returning({ id: inboundMessages.id });
  if (inserted[0]) return { id: inserted[0].id, duplicate: false };
  const [existing] = await db
    .select({ id: inboundMessages.id })
    .from(inboundMessages)
    .where(
      and(
        eq(inboundMessages.channel, msg.channel),
        eq(inboundMessages.channelMessageId, msg.channelMessageId),
      ),
    );
  return { id: existing!.id, duplicate: true };
}

function inboundValues(
  msg: InboundMessage,
  opts: { processedAt?: Date; extra?: Record<string, unknown> } = {},
): typeof inboundMessages.$inferInsert {
  return {
    channel: msg.channel,
    channelMessageId: msg.channelMessageId,
    chatId: msg.chatId,
    senderId: msg.sender.id,
    // Object.assign, not a literal with a spread: see saveDialogue in dialogue-store.ts.
    payload: Object.assign(
      {},
      msg,
      { receivedAt: msg.receivedAt.toISOString() },
      opts.extra,
    ) as unknown as Record<string, unknown>,
    receivedAt: msg.receivedAt,
    processedAt: opts.processedAt ?? null,
    attempts: opts.processedAt ? 1 : 0,
  };
}

export type ProcessStatus = 'processed' | 'already' | 'busy' | 'failed' | 'gave-up';

/**
 * Processes a stored message exactly once: the row is locked, handled inside a savepoint and
 * marked processed in the same transaction as everything the handling wrote. A failure is
 * recorded and retried later; after MAX_INBOUND_ATTEMPTS the sender gets an apology instead.
 */
export async function processInbound(
  db: Db,
  deps: FlowDeps,
  services: Services,
  id: number,
): Promise<{ status: ProcessStatus; effects: Effects }> {
  const effects = emptyEffects();
  const status = await db.transaction(async (tx): Promise<ProcessStatus> => {
    const [row] = await tx
      .select()
      .from(inboundMessages)
      .where(eq(inboundMessages.id, id))
      .for('update', { skipLocked: true });
    if (!row) return 'busy';
    if (row.processedAt) return 'already';
    const msg = { ...(row.payload as unknown as InboundMessage), receivedAt: row.receivedAt };
    return handleStored(tx, deps, services, { id, attempts: row.attempts, msg }, effects);
  });
  return { status, effects };
}

/**
 * Handles a stored, locked message inside the caller's transaction: the handling runs in a
 * savepoint, so a failure leaves the message stored with its error (to be retried) and
 * everything it half-wrote undone.
 */
async function handleStored(
  tx: Tx,
  deps: FlowDeps,
  services: Services,
  row: { id: number; attempts: number; msg: InboundMessage },
  effects: Effects,
): Promise<ProcessStatus> {
  const { id, msg } = row;
  const now = deps.clock.now();
  const attempt = emptyEffects();
  try {
    await tx.transaction((sp) => handleMessage({ tx: sp, deps, effects: attempt, now }, services, msg));
    effects.outboxIds.push(...attempt.outboxIds);
    effects.outboxChannels = Object.assign(effects.outboxChannels ?? {}, attempt.outboxChannels);
    effects.deadlines.push(...attempt.deadlines);
    await tx
      .update(inboundMessages)
      .set({ processedAt: now, attempts: row.attempts + 1, error: null })
      .where(eq(inboundMessages.id, id));
    return 'processed';
  } catch (err) {
    const attempts = row.attempts + 1;
    const error = describeError(err).message.slice(0, 500);
    deps.log.error({ inboundId: id, attempts, err: describeError(err) }, 'inbound message failed');
    const giveUp = attempts >= MAX_INBOUND_ATTEMPTS;
    await tx
      .update(inboundMessages)
      .set({ attempts, error, processedAt: giveUp ? now : null })
      .where(eq(inboundMessages.id, id));
    if (!giveUp) return 'failed';
    const company = deps.policy.company;
    await enqueueMessage(tx, {
      channel: msg.channel,
      chatId: msg.chatId,
      reply: { text: deps.t(msg.sender.lang ?? 'zh', 'dialogue.error', { hotline: company.hotline }) },
      now,
      effects,
      dedupKey: `inbound-failed:${id}`,
    });
    return 'gave-up';
  }
}

/**
 * Stores and handles a message in one transaction (one commit instead of two): the store is
 * the transaction's first statement, so a message is never handled without being stored, and a
 * failed handling still commits the stored message with its error. The channel is answered
 * after the commit; a crash before it loses nothing that was acknowledged.
 */
export async function receiveInbound(
  db: Db,
  deps: FlowDeps,
  services: Services,
  msg: InboundMessage,
): Promise<Received> {
  const effects = emptyEffects();
  return db.transaction(async (tx): Promise<Received> => {
    // The dialogue's lock before the store, in the order a batch takes them: a batch holding the
    // same message (a redelivery) and this transaction then wait for each other in turn, never
    // each for the other (a deadlock).
    await lockDialogue(tx, { channel: msg.channel, chatId: msg.chatId, userId: msg.sender.id });
    const stored = await storeInbound(tx, msg);
    if (stored.duplicate) return { ...stored, status: 'already' as const, effects };
    const status = await handleStored(tx, deps, services, { id: stored.id, attempts: 0, msg }, effects);
    return { ...stored, status, effects };
  });
}

/**
 * Where a batch's transaction is (for benchmarks): BEGIN has returned; the first round trip (the
 * messages stored, what the handlers read first) has returned; every handler is done (its held-back
 * writes go out with the COMMIT next).
 */
export type BatchTrace = (phase: 'begun' | 'read' | 'handled') => void;

export interface Received {
  id: number;
  duplicate: boolean;
  status: ProcessStatus;
  effects: Effects;
}

/**
 * Stores and handles one or more messages in one transaction: one commit for all, and what their
 * handlers ask of the database while all of them wait is sent as one statement (see batch.ts). The
 * messages must be of different senders or chats (the batcher in src/bot/pipeline.ts sees to it).
 * If anything fails, nothing of the batch is kept and each message is received on its own, so a
 * failing message is stored with its error and the others are handled as usual.
 *
 * Round trips: after BEGIN, the first sends the dialogue locks, the messages and what every
 * handler reads first (the sender's staff record; in a private chat the dialogue and the customer)
 * together; the writes nobody waits for (replies, dialogue state, audit rows) go out with the next
 * round or with the COMMIT. A dialogue step that only answers and moves on is three round trips:
 * BEGIN, that first one, and the commit.
 */
export function receiveBatch(
  db: Db,
  deps: FlowDeps,
  services: Services,
  msgs: InboundMessage[],
  trace?: BatchTrace,
): Promise<Received[]> {
  // A transaction handed its messages as it begins; a fresh one is open, so it takes them.
  return beginBatchAhead(db, deps, services).take(msgs, trace)!;
}

/**
 * A batch's transaction begun before its messages are known, so that BEGIN's round trip is not
 * in their way: under load the pipeline keeps one open while its batches run, and hands it the
 * next messages (see InboundPipeline). It holds no lock and no snapshot while it waits (a
 * statement takes its snapshot when it runs), only a pool connection.
 */
export interface BatchAhead {
  /** Whether it may still be handed messages: not yet handed any, released, or failed. */
  readonly open: boolean;
  /**
   * Stores and handles the messages in the transaction, as receiveBatch does (one by one if it
   * fails, its connection lost included). Undefined if it is no longer open: nothing is taken.
   */
  take(msgs: InboundMessage[], trace?: BatchTrace): Promise<Received[]> | undefined;
  /** Ends it unused (an empty COMMIT) if still open; resolves once its transaction is over. */
  release(): Promise<void>;
}

export function beginBatchAhead(db: Db, deps: FlowDeps, services: Services): BatchAhead {
  let hand!: (job: { msgs: InboundMessage[]; trace?: BatchTrace } | null) => void;
  const handed = new Promise<{ msgs: InboundMessage[]; trace?: BatchTrace } | null>((resolve) => {
    hand = resolve;
  });
  const held: HeldBack = { written: Promise.resolve() };
  let open = true;
  const transaction = db.transaction(async (tx) => {
    const job = await handed;
    return job ? handleBatch(tx, deps, services, job.msgs, job.trace, held) : null;
  });
  // BEGIN failed, or the connection was lost while it waited: nothing was handed to it.
  transaction.catch(() => {
    open = false;
  });
  const over = transaction.then(
    () => {},
    () => {},
  );
  return {
    get open() {
      return open;
    },
    take(msgs, trace) {
      if (!open) return undefined;
      open = false;
      hand({ msgs, trace });
      return (async () => {
        try {
          const results = (await transaction)!;
          await held.written;
          return results;
        } catch (err) {
          return receiveOneByOne(db, deps, services, msgs, err);
        }
      })();
    },
    async release() {
      if (open) {
        open = false;
        hand(null);
      }
      await over;
    },
  };
}

/** A batch's held-back writes, settled once its COMMIT is (see handleBatch). */
interface HeldBack {
  written: Promise<void>;
}

/**
 * What became of the messages of a failed batch received one by one, when some of them failed
 * again: the others are stored (and handled) and must be answered as such.
 */
export class PartlyReceived extends Error {
  constructor(readonly outcomes: PromiseSettledResult<Received>[]) {
    const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    super(`${failed.length} of ${outcomes.length} messages could not be received`, {
      cause: failed[0]?.reason,
    });
    this.name = 'PartlyReceived';
  }
}

/**
 * After a batch failed: nothing of it was kept, so each message is received in a transaction of
 * its own. Nobody is answered before every one of these transactions is over: a message refused
 * while its transaction still ran could be redelivered into a batch that then waited for it (a
 * deadlock, seen when a connection was lost under load), or be refused and yet committed. If
 * every message failed the first error is thrown; if some did, PartlyReceived says which.
 */
async function receiveOneByOne(
  db: Db,
  deps: FlowDeps,
  services: Services,
  msgs: InboundMessage[],
  err: unknown,
): Promise<Received[]> {
  deps.log.warn(
    { messages: msgs.length, err: describeError(err) },
    'batch failed; receiving its messages one by one',
  );
  const outcomes = await Promise.allSettled(msgs.map((m) => receiveInbound(db, deps, services, m)));
  const received = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  if (received.length === msgs.length) return received;
  if (received.length === 0) throw (outcomes[0] as PromiseRejectedResult).reason;
  throw new PartlyReceived(outcomes);
}

/** The body of a batch's transaction (see receiveBatch and beginBatchAhead). */
async function handleBatch(
  tx: Tx,
  deps: FlowDeps,
  services: Services,
  msgs: InboundMessage[],
  trace: BatchTrace | undefined,
  held: HeldBack,
): Promise<Received[]> {
  trace?.('begun');
  const batch = beginBatch(tx);
  beforeEachStatement(tx, () => batch.sendDeferred());
  const now = deps.clock.now();
  const results: Received[] = new Array(msgs.length);
  const keys = msgs.map((m) => ({ channel: m.channel, chatId: m.chatId, userId: m.sender.id }));
  // One round trip. The locks are issued first: the dialogues are read under them (statements
  // of a transaction run in the order they are issued). A private chat's sender is looked up
  // as a customer too (with the contact they last gave): the fault dialogue needs it on three
  // of its eight steps. A duplicate's reads are not needed.
  const locking = lockDialogues(tx, keys);
  const staffLoading = findStaffByIdentities(
    tx,
    msgs.map((m) => ({ channel: m.channel, id: m.sender.id })),
  );
  const privateAt = msgs.flatMap((m, i) => (m.chatKind === 'group' ? [] : [i]));
  const dialoguesLoading = loadDialogues(
    tx,
    privateAt.map((i) => keys[i]!),
  );
  const customersLoading = findCustomersByIdentities(
    tx,
    privateAt.map((i) => ({ channel: msgs[i]!.channel, id: msgs[i]!.sender.id })),
  );
  // Stored as processed at once: if handling fails, the whole transaction is undone.
  const inserting = sendStatement<{
    id: string | number;
    channel: string;
    channel_message_id: string;
  }>(
    tx,
    sql`
        insert into inbound_messages (channel, channel_message_id, chat_id, sender_id, payload, received_at, processed_at, attempts)
        select r.channel, r.channel_message_id, r.chat_id, r.sender_id, r.payload, r.received_at, ${now.toISOString()}::timestamptz, 1
        from jsonb_to_recordset(${JSON.stringify(
          msgs
            .map((m) => inboundValues(m))
            .map((v) => ({
              channel: v.channel,
              channel_message_id: v.channelMessageId,
              chat_id: v.chatId,
              sender_id: v.senderId,
              payload: v.payload,
              received_at: v.receivedAt,
            })),
        )}::jsonb) as r(channel text, channel_message_id text, chat_id text, sender_id text, payload jsonb, received_at timestamptz)
        on conflict (channel, channel_message_id) do nothing
        returning id, channel, channel_message_id`,
  );
  const [, staffOf, dialogueRows, customerRows, inserted] = await Promise.all([
    locking,
    staffLoading,
    dialoguesLoading,
    customersLoading,
    inserting,
  ]);
  trace?.('read');
  const preloaded: Preloaded[] = msgs.map((_, i) => ({ staff: staffOf[i] ?? null }));
  privateAt.forEach((i, n) => {
    preloaded[i]!.dialogue = dialogueRows[n] ?? null;
    preloaded[i]!.customer = customerRows[n] ?? null;
  });
  const idOf = new Map(inserted.map((r) => [messageKey(r.channel, r.channel_message_id), Number(r.id)]));
  const fresh: { i: number; id: number; msg: InboundMessage; effects: Effects }[] = [];
  const duplicates: number[] = [];
  msgs.forEach((msg, i) => {
    const k = messageKey(msg.channel, msg.channelMessageId);
    const id = idOf.get(k);
    idOf.delete(k); // the same message twice in the batch: the second is a duplicate
    if (id === undefined) duplicates.push(i);
    else fresh.push({ i, id, msg, effects: emptyEffects() });
  });
  if (duplicates.length > 0) {
    const existing = await sendStatement<{ id: number; channel: string; channel_message_id: string }>(
      tx,
      sql`select x.* from ${eachKey(
        duplicates.map((i) => [msgs[i]!.channel, msgs[i]!.channelMessageId]),
        sql`select id, channel, channel_message_id from ${inboundMessages}
                where ${inboundMessages.channel} = k->>0 and ${inboundMessages.channelMessageId} = k->>1`,
      )}`,
    );
    const existingId = new Map(
      existing.map((r) => [messageKey(r.channel, r.channel_message_id), Number(r.id)]),
    );
    for (const i of duplicates) {
      const id = existingId.get(messageKey(msgs[i]!.channel, msgs[i]!.channelMessageId))!;
      results[i] = { id, duplicate: true, status: 'already', effects: emptyEffects() };
    }
  }
  const settled = await batch.run(
    fresh.map(
      (f) => () => handleMessage({ tx, deps, effects: f.effects, now }, services, f.msg, preloaded[f.i]),
    ),
  );
  const failure = settled.find((s) => s.status === 'rejected');
  if (failure) throw failure.reason;
  trace?.('handled');
  // The held-back writes are sent now and the COMMIT right behind them, in the same round
  // trip. Should one of them fail, the transaction is aborted and its COMMIT rolls back: the
  // failure is thrown once the transaction is over (BatchAhead.take). Their ids reach the effects first.
  held.written = batch.finish();
  held.written.catch(() => {});
  for (const f of fresh)
    results[f.i] = { id: f.id, duplicate: false, status: 'processed', effects: f.effects };
  return results;
}

/** Messages stored but not processed (a crash between the two, or a failure to retry). */
export async function unprocessedInbound(
  db: Db,
  opts: { olderThan: Date; limit: number },
): Promise<number[]> {
  const rows = await db
    .select({ id: inboundMessages.id })
    .from(inboundMessages)
    .where(and(isNull(inboundMessages.processedAt), lt(inboundMessages.receivedAt, opts.olderThan)))
    .orderBy(asc(inboundMessages.id))
    .limit(opts.limit);
  return rows.map((r) => r.id);
}
