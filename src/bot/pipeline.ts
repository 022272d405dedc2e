import { type Effects, emptyEffects } from '../flows/engine/effects.ts';
import { processInbound, receiveInbound } from '../flows/engine/inbound.ts';
import type { InboundMessage } from '../flows/engine/message.ts';
import { describeError } from '../log.ts';
import type { Runtime } from '../runtime.ts';

/**
 * The way in for every channel: the message is stored (deduplicated by the channel's message id)
 * and handled in one transaction, and the channel is answered after it commits. A message stored
 * but not handled (a failure) is picked up again by the reconciler.
 */
export class InboundPipeline {
  readonly #rt: Pick<Runtime, 'database' | 'deps' | 'services' | 'kicker' | 'log'>;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(rt: Pick<Runtime, 'database' | 'deps' | 'services' | 'kicker' | 'log'>) {
    this.#rt = rt;
  }

  /**
   * Stores and handles the message (one transaction); resolves once it is committed, so a
   * channel acknowledges only what is stored. A failed handling is stored with its error and
   * retried by the reconciler; a crash before the commit leaves nothing acknowledged.
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
  async receiveAndProcess(
    msg: InboundMessage,
    opts: { kick?: boolean } = {},
  ): Promise<{ id: number; duplicate: boolean; effects: Effects }> {
    const { database, deps, services, kicker } = this.#rt;
    // Store and handle in one transaction: one commit, and no re-reading of the row just stored.
    const result = await receiveInbound(database.db, deps, services, msg);
    if (opts.kick !== false) await kicker.kick(result.effects);
    return { id: result.id, duplicate: result.duplicate, effects: result.effects };
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

  /** Waits for messages being processed (graceful shutdown). */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }
}
