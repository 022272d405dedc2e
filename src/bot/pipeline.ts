import { type Effects, emptyEffects } from '../flows/engine/effects.ts';
import {
  type BatchAhead,
  type BatchTrace,
  beginBatchAhead,
  PartlyReceived,
  processInbound,
  type Received,
  receiveBatch,
} from '../flows/engine/inbound.ts';
import type { InboundMessage } from '../flows/engine/message.ts';
import { storableMessage } from '../flows/engine/storable.ts';
import { describeError } from '../log.ts';
import type { Runtime } from '../runtime.ts';

type PipelineRuntime = Pick<Runtime, 'database' | 'deps' | 'services' | 'kicker' | 'log'> & {
  env?: Pick<
    Runtime['env'],
    'INBOUND_BATCH_MAX' | 'INBOUND_BATCH_CONCURRENCY' | 'INBOUND_BEGIN_AHEAD_MS' | 'DATABASE_POOL_SIZE'
  >;
};

export interface PipelineOptions {
  /** Most messages stored and handled by one transaction. */
  batchMax?: number;
  /** Transactions of messages at once (each holds a pool connection). */
  concurrency?: number;
  /**
   * How long a transaction begun ahead of its messages waits for them before it is ended unused
   * (0: none is begun ahead). See #beginAhead.
   */
  beginAheadMs?: number;
  /** Called as a transaction starts, with the messages it takes (benchmarks time it). */
  onStarted?(msgs: InboundMessage[]): void;
  /** Called as a transaction passes each phase (see BatchTrace), with its messages (benchmarks). */
  onPhase?(msgs: InboundMessage[], phase: Parameters<BatchTrace>[0]): void;
  /** Called after each commit with the messages it covered (benchmarks time it). */
  onCommitted?(msgs: InboundMessage[]): void;
}

interface Waiting {
  msg: InboundMessage;
  key: string;
  kick: boolean;
  resolve(r: Received): void;
  reject(err: unknown): void;
}

/**
 * The way in for every channel: the message is stored (deduplicated by the channel's message id)
 * and handled in one transaction, and the channel is answered after it commits. A message stored
 * but not handled (a failure) is picked up again by the reconciler.
 *
 * Messages that arrive while transactions are busy are handled together by the next one (group
 * commit, see receiveBatch): at light load each message has its own transaction at once; under
 * load a transaction takes up to `batchMax`. Two messages of the same sender in the same chat
 * never share a transaction or run at once: the second waits, so they are handled in order.
 */
export class InboundPipeline {
  readonly #rt: PipelineRuntime;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #batchMax: number;
  readonly #concurrency: number;
  readonly #onStarted?: (msgs: InboundMessage[]) => void;
  readonly #onPhase?: PipelineOptions['onPhase'];
  readonly #onCommitted?: (msgs: InboundMessage[]) => void;
  #waiting: Waiting[] = [];
  /** Sender-and-chat keys of the messages being handled. */
  readonly #busy = new Set<string>();
  #running = 0;
  #pumpScheduled = false;
  readonly #beginAheadMs: number;
  /** The transaction begun ahead for the next batch, and the timer that ends it unused. */
  #ahead: { batch: BatchAhead; timer: NodeJS.Timeout } | null = null;

  constructor(rt: PipelineRuntime, opts: PipelineOptions = {}) {
    this.#rt = rt;
    this.#batchMax = Math.max(1, opts.batchMax ?? rt.env?.INBOUND_BATCH_MAX ?? 200);
    this.#concurrency = Math.max(1, opts.concurrency ?? rt.env?.INBOUND_BATCH_CONCURRENCY ?? 2);
    // A pool without a connection to spare for it would make a batch wait for the one begun ahead.
    const poolToSpare = (rt.env?.DATABASE_POOL_SIZE ?? Number.POSITIVE_INFINITY) > this.#concurrency;
    this.#beginAheadMs = poolToSpare
      ? Math.max(0, opts.beginAheadMs ?? rt.env?.INBOUND_BEGIN_AHEAD_MS ?? 1000)
      : 0;
    this.#onStarted = opts.onStarted;
    this.#onPhase = opts.onPhase;
    this.#onCommitted = opts.onCommitted;
  }

  /**
   * Stores and handles the message; resolves once it is committed, so a channel acknowledges
   * only what is stored. A failed handling is stored with its error and retried by the
   * reconciler; a crash before the commit leaves nothing acknowledged.
   */
  async receive(msg: InboundMessage): Promise<{ id: number; duplicate: boolean }> {
    const p = this.receiveAndProcess(msg);
    const tracked = p.then(() => {}).finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
    const { id, duplicate } = await p;
    return { id, duplicate };
  }

  /**
   * Stores and processes before resolving, for channels that answer in the same request. With
   * `kick: false` the caller gets the queued outbox ids and wakes the workers itself (WeChat's
   * passive reply claims the replies first, so they are not also sent through the API).
   */
  receiveAndProcess(
    msg: InboundMessage,
    opts: { kick?: boolean } = {},
  ): Promise<{ id: number; duplicate: boolean; effects: Effects }> {
    // One character PostgreSQL cannot hold (NUL, half an emoji) would make the message impossible
    // to store: refused, redelivered and refused again, and failing the batch it arrives in.
    msg = storableMessage(msg);
    return new Promise<Received>((resolve, reject) => {
      this.#waiting.push({
        msg,
        key: JSON.stringify([msg.channel, msg.chatId, msg.sender.id]),
        kick: opts.kick !== false,
        resolve,
        reject,
      });
      this.#schedulePump();
    }).then(({ id, duplicate, effects }) => ({ id, duplicate, effects }));
  }

  async process(id: number, opts: { kick?: boolean } = {}): Promise<Effects> {
    const { database, deps, services, kicker, log } = this.#rt;
    try {
      const { effects } = await processInbound(database.db, deps, services, id);
      if (opts.kick !== false) await kicker.kick(effects);
      return effects;
    } catch (err) {
      // The row stays unprocessed; the reconciler retries it.
      log.error({ inboundId: id, err: describeError(err) }, 'processing failed');
      return emptyEffects();
    }
  }

  /** Waits for messages being processed, then ends the transaction begun ahead (graceful shutdown). */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0 || this.#running > 0 || this.#waiting.length > 0)
      await Promise.allSettled([...this.#inFlight, new Promise((r) => setTimeout(r, 5))]);
    await this.#takeAhead()?.release();
  }

  /**
   * Begins the next batch's transaction while this one runs, so that the next messages need not
   * wait for BEGIN's round trip: at half the machine's commit rate BEGIN alone took 1.3 ms of a
   * transaction's 13 (p99 12 ms), for it waits for the event loop both ways. It costs a pool
   * connection, idle in a transaction without locks or a snapshot; left unused for
   * `beginAheadMs` it commits empty, so a quiet bot holds no transaction open.
   */
  #beginAhead(): void {
    if (this.#beginAheadMs === 0 || this.#ahead) return;
    const { database, deps, services } = this.#rt;
    const batch = beginBatchAhead(database.db, deps, services);
    const timer = setTimeout(() => {
      if (this.#ahead?.batch === batch) this.#ahead = null;
      void batch.release();
    }, this.#beginAheadMs);
    timer.unref();
    this.#ahead = { batch, timer };
  }

  /** The transaction begun ahead, if there is one still open; it is no longer kept. */
  #takeAhead(): BatchAhead | null {
    const ahead = this.#ahead;
    if (!ahead) return null;
    this.#ahead = null;
    clearTimeout(ahead.timer);
    return ahead.batch.open ? ahead.batch : null;
  }

  /** Messages handed in during this turn of the event loop go together. */
  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#running < this.#concurrency) {
      const batch = this.#take();
      if (batch.length === 0) return;
      this.#running++;
      let released = false;
      // The slot (a pool connection) is free once the transaction is over; the wake-up after it
      // only talks to Redis.
      const release = () => {
        if (released) return;
        released = true;
        this.#running--;
        for (const w of batch) this.#busy.delete(w.key);
        this.#pump();
      };
      void this.#run(batch, release).finally(release);
    }
  }

  /** The oldest waiting messages whose sender-and-chat is not busy, one per key. */
  #take(): Waiting[] {
    const taken: Waiting[] = [];
    const rest: Waiting[] = [];
    let i = 0;
    // Stops at a full batch: a long queue is not walked again for every batch.
    for (; i < this.#waiting.length && taken.length < this.#batchMax; i++) {
      const w = this.#waiting[i]!;
      if (this.#busy.has(w.key)) rest.push(w);
      else {
        this.#busy.add(w.key);
        taken.push(w);
      }
    }
    this.#waiting = i < this.#waiting.length ? rest.concat(this.#waiting.slice(i)) : rest;
    return taken;
  }

  async #run(batch: Waiting[], release: () => void): Promise<void> {
    const { database, deps, services, kicker } = this.#rt;
    const msgs = batch.map((w) => w.msg);
    this.#onStarted?.(msgs);
    const onPhase = this.#onPhase;
    const trace: BatchTrace | undefined = onPhase && ((phase) => onPhase(msgs, phase));
    let results: (Received | undefined)[];
    /** Each message's outcome one by one, when the batch failed and some of them failed again. */
    let outcomes: PromiseSettledResult<Received>[] | undefined;
    try {
      const ahead = this.#takeAhead()?.take(msgs, trace);
      this.#beginAhead();
      results = await (ahead ?? receiveBatch(database.db, deps, services, msgs, trace));
    } catch (err) {
      // Received one by one after the batch failed, and some of them failed again: the others
      // are stored and are answered as such.
      if (!(err instanceof PartlyReceived)) {
        for (const w of batch) w.reject(err);
        return;
      }
      outcomes = err.outcomes;
      results = outcomes.map((o) => (o.status === 'fulfilled' ? o.value : undefined));
    }
    this.#onCommitted?.(msgs);
    release();
    // One wake-up for the whole transaction; a caller with `kick: false` wakes its own.
    const effects = emptyEffects();
    effects.outboxChannels = {};
    batch.forEach((w, i) => {
      const e = results[i]?.effects;
      if (!w.kick || !e) return;
      effects.outboxIds.push(...e.outboxIds);
      Object.assign(effects.outboxChannels!, e.outboxChannels);
      effects.deadlines.push(...e.deadlines);
    });
    try {
      await kicker.kick(effects);
    } finally {
      batch.forEach((w, i) => {
        const o = outcomes?.[i];
        if (o?.status === 'rejected') w.reject(o.reason);
        else w.resolve(results[i]!);
      });
    }
  }
}
