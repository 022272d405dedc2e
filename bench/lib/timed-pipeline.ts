import { InboundPipeline, type PipelineOptions } from '../../src/bot/pipeline.ts';
import type { InboundMessage } from '../../src/flows/engine/message.ts';
import type { Runtime } from '../../src/runtime.ts';

/**
 * Timestamps (performance.now(), ms) of one message through the pipeline:
 * - `handed`: given to `receive` / `receiveAndProcess`;
 * - `started`: the transaction that stores and handles it starts (before that it waits for one
 *   of the pipeline's transactions to be free: INBOUND_BATCH_CONCURRENCY);
 * - `begun`, `read`, `handled`: its transaction's BEGIN has returned, then its first round trip
 *   (stored, first reads), then every handler of the batch is done (see BatchTrace);
 * - `committed`: the transaction holding its replies in the outbox is committed (the pipeline
 *   reports it before it wakes the workers);
 * - `done`: the wake-up is sent too (BullMQ jobs added): when `receiveAndProcess` resolves.
 */
export interface MessageTiming {
  key: string;
  handed: number;
  started?: number;
  begun?: number;
  read?: number;
  handled?: number;
  committed?: number;
  done?: number;
  outboxRows: number;
}

/**
 * The real InboundPipeline, measured from outside through its `onCommitted` hook; the code in
 * between is the bot's. Timings are kept by the channel message id until taken.
 */
export class TimedPipeline extends InboundPipeline {
  readonly #timings = new Map<string, MessageTiming>();
  readonly #waiters = new Map<string, (t: MessageTiming) => void>();

  constructor(
    rt: Pick<Runtime, 'database' | 'deps' | 'services' | 'kicker' | 'log'> & Partial<Pick<Runtime, 'env'>>,
    opts: PipelineOptions = {},
  ) {
    super(rt, {
      ...opts,
      onStarted: (msgs) => {
        const at = performance.now();
        for (const m of msgs) {
          const t = this.#timings.get(m.channelMessageId);
          if (t) t.started ??= at;
        }
      },
      onPhase: (msgs, phase) => {
        const at = performance.now();
        for (const m of msgs) {
          const t = this.#timings.get(m.channelMessageId);
          if (t) t[phase] ??= at;
        }
      },
      onCommitted: (msgs) => {
        const at = performance.now();
        for (const m of msgs) {
          const t = this.#timings.get(m.channelMessageId);
          if (t) t.committed ??= at;
        }
      },
    });
  }

  override async receiveAndProcess(msg: InboundMessage, opts: { kick?: boolean } = {}) {
    const t = this.#begin(msg);
    try {
      const result = await super.receiveAndProcess(msg, opts);
      t.outboxRows = result.effects.outboxIds.length;
      return result;
    } finally {
      this.#finish(t);
    }
  }

  #finish(t: MessageTiming): void {
    t.done = performance.now();
    const waiter = this.#waiters.get(t.key);
    if (waiter) {
      this.#waiters.delete(t.key);
      this.#timings.delete(t.key);
      waiter(t);
    }
  }

  /** The timing of a message whose processing finished (removed from the map). */
  take(channelMessageId: string): MessageTiming | undefined {
    const t = this.#timings.get(channelMessageId);
    this.#timings.delete(channelMessageId);
    return t;
  }

  /** Resolves when the message handed in (e.g. by the HTTP route) has been processed. */
  waitFor(channelMessageId: string): Promise<MessageTiming> {
    const t = this.#timings.get(channelMessageId);
    if (t?.done !== undefined) {
      this.#timings.delete(channelMessageId);
      return Promise.resolve(t);
    }
    return new Promise((resolve) => this.#waiters.set(channelMessageId, resolve));
  }

  #begin(msg: InboundMessage): MessageTiming {
    const t: MessageTiming = { key: msg.channelMessageId, handed: performance.now(), outboxRows: 0 };
    this.#timings.set(msg.channelMessageId, t);
    return t;
  }
}
