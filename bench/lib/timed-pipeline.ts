import { AsyncLocalStorage } from 'node:async_hooks';
import { InboundPipeline, type PipelineOptions } from '../../src/bot/pipeline.ts';
import type { Effects, Kicker } from '../../src/flows/engine/effects.ts';
import type { InboundMessage } from '../../src/flows/engine/message.ts';
import type { Runtime } from '../../src/runtime.ts';

/**
 * Timestamps (performance.now(), ms) of one message through the pipeline:
 * - `handed`: given to `receive` / `receiveAndProcess`;
 * - `stored`: the inbound row is committed (for `receive`; `receiveAndProcess` stores and handles in
 *   one transaction, so there it equals `committed`);
 * - `committed`: the processing transaction, with the replies in the outbox, is committed
 *   (the pipeline wakes the workers only after commit, so this is when the kicker is called);
 * - `done`: the wake-up is sent too (outbox channel look-up + BullMQ addBulk): when
 *   `receiveAndProcess` resolves.
 */
export interface MessageTiming {
  key: string;
  handed: number;
  stored?: number;
  committed?: number;
  done?: number;
  outboxRows: number;
}

const current = new AsyncLocalStorage<MessageTiming>();

/**
 * The real InboundPipeline, measured from outside: `process` and the kicker are wrapped, the code
 * in between is the bot's. Timings are kept by the channel message id until taken.
 */
export class TimedPipeline extends InboundPipeline {
  readonly #timings = new Map<string, MessageTiming>();
  readonly #waiters = new Map<string, (t: MessageTiming) => void>();

  constructor(
    rt: Pick<Runtime, 'database' | 'deps' | 'services' | 'kicker' | 'log'> & Partial<Pick<Runtime, 'env'>>,
    opts: PipelineOptions = {},
  ) {
    super(
      { ...rt, kicker: timedKicker(rt.kicker) },
      {
        ...opts,
        onCommitted: (msgs) => {
          const at = performance.now();
          for (const m of msgs) {
            const t = this.#timings.get(m.channelMessageId);
            if (t) t.committed ??= at;
          }
        },
      },
    );
  }

  /**
   * One transaction stores and handles the message here, so `stored` is the same moment as
   * `committed` (the store's own share of the time is inside the transaction).
   */
  override receiveAndProcess(msg: InboundMessage, opts: { kick?: boolean } = {}) {
    const t = this.#begin(msg);
    return current.run(t, async () => {
      try {
        const result = await super.receiveAndProcess(msg, opts);
        t.outboxRows = result.effects.outboxIds.length;
        t.committed ??= performance.now();
        t.stored ??= t.committed;
        return result;
      } finally {
        this.#finish(t);
      }
    });
  }

  override async process(id: number, opts: { kick?: boolean } = {}): Promise<Effects> {
    const t = current.getStore();
    if (t) t.stored = performance.now();
    try {
      const effects = await super.process(id, opts);
      if (t) t.outboxRows = effects.outboxIds.length;
      return effects;
    } finally {
      if (t) this.#finish(t);
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

function timedKicker(inner: Kicker): Kicker {
  return {
    async kick(effects) {
      const t = current.getStore();
      if (t) t.committed = performance.now();
      await inner.kick(effects);
    },
  };
}
