import type { Telegram } from 'telegraf';
import { describeError, type Logger } from '../../log.ts';
import { apiFailure, apiSignal } from './api.ts';
import { ALLOWED_UPDATES, type TgUpdate } from './updates.ts';

export interface PollingOptions {
  telegram: Telegram;
  /** Stores one update (throws when it could not: the update is asked for again). */
  handle: (update: TgUpdate) => Promise<void>;
  log: Logger;
  /** Long-polling timeout in seconds (Telegram holds the request this long when idle). */
  timeoutSec?: number;
  limit?: number;
  /** Pause after an empty answer that came back at once (servers that do not long-poll). */
  idleDelayMs?: number;
  /** First and longest pause after a failure (doubling in between). */
  backoffMs?: { min: number; max: number };
}

export interface Polling {
  /** Stops asking, lets the update in hand be stored, and resolves when the loop has ended. */
  stop(): Promise<void>;
}

/**
 * Long polling with our own offset: it moves past an update only once `handle` stored it, so an
 * update that failed to store is delivered again by Telegram. Network and API errors back off
 * and retry; `stop()` aborts the request in flight.
 */
export function startPolling(opts: PollingOptions): Polling {
  const timeoutSec = opts.timeoutSec ?? 25;
  const idleDelayMs = opts.idleDelayMs ?? 250;
  const backoff = opts.backoffMs ?? { min: 1000, max: 30_000 };
  const controller = new AbortController();
  let stopped = false;
  let offset: number | undefined;

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      if (stopped) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        controller.signal.removeEventListener('abort', done);
        resolve();
      }
      controller.signal.addEventListener('abort', done);
    });

  async function loop(): Promise<void> {
    let failures = 0;
    let storeFailures = 0;
    while (!stopped) {
      const started = Date.now();
      let updates: TgUpdate[];
      try {
        updates = (await opts.telegram.callApi(
          'getUpdates',
          { timeout: timeoutSec, limit: opts.limit ?? 100, offset, allowed_updates: [...ALLOWED_UPDATES] },
          { signal: apiSignal((timeoutSec + 15) * 1000, controller.signal) },
        )) as unknown as TgUpdate[];
      } catch (err) {
        if (stopped) break;
        failures++;
        const f = apiFailure(err);
        const wait =
          f?.code === 429 && f.retryAfterSec
            ? f.retryAfterSec * 1000
            : Math.min(backoff.max, backoff.min * 2 ** Math.min(failures - 1, 10));
        opts.log.warn(
          { err: describeError(err), failures, retryInMs: wait },
          f?.code === 409
            ? 'telegram getUpdates conflict: a webhook is set or another process is polling'
            : 'telegram getUpdates failed; retrying',
        );
        await pause(wait);
        continue;
      }
      failures = 0;
      for (const update of updates) {
        if (offset !== undefined && update.update_id < offset) continue; // already stored
        try {
          await opts.handle(update);
        } catch (err) {
          storeFailures++;
          // Not stored: the offset stays, so Telegram sends this update again.
          opts.log.error(
            { err: describeError(err), updateId: update.update_id },
            'telegram update could not be stored; will retry',
          );
          await pause(Math.min(backoff.max, backoff.min * 2 ** Math.min(storeFailures - 1, 10)));
          break;
        }
        storeFailures = 0;
        offset = update.update_id + 1;
      }
      if (updates.length === 0 && Date.now() - started < 1000) await pause(idleDelayMs);
    }
  }

  const running = loop().catch((err) => {
    opts.log.error({ err: describeError(err) }, 'telegram polling stopped by an error');
  });
  return {
    async stop() {
      stopped = true;
      controller.abort();
      await running;
    },
  };
}
