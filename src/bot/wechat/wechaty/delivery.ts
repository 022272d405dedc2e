import { and, asc, eq } from 'drizzle-orm';
import { outbox } from '../../../db/schema/index.ts';
import { emptyEffects } from '../../../flows/engine/effects.ts';
import { reportUndeliverable } from '../../../flows/outbox/undeliverable.ts';
import { describeError } from '../../../log.ts';
import type { Runtime } from '../../../runtime.ts';
import { deliverOutbox } from '../../../workers/deliver-outbox.ts';
import type { ChannelSender } from '../../../workers/senders.ts';

/** As many tries as the outbox queue gives a row (its `attempts`). */
const MAX_ATTEMPTS = 8;
const BATCH = 100;
/** PostgreSQL "lock not available": another worker is sending the row right now. */
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * Delivers pending outbox rows of channel 'wechaty' from the process that runs the wechaty bot,
 * whichever process queued them. Only this process holds the logged-in account, so a workers
 * process (`npm run workers`) registers `deferredWechatySender` and leaves these rows to this
 * loop. Safe next to an outbox worker in the same process: `deliverOutbox` locks the row, keeps
 * each chat in order and never sends a row twice.
 *
 * With `graceMs`, a row is left to the outbox worker for that long after the loop first sees
 * it (the worker gets it at once when it runs here); rows that waited for a login go out as soon
 * as the account is back (`poke`).
 */
export function startWechatyDelivery(opts: {
  rt: Pick<Runtime, 'database' | 'kicker' | 'deps' | 'log'>;
  sender: ChannelSender;
  /** While false, passes are skipped (the rows wait; nothing is counted against them). */
  isOnline?: () => boolean;
  intervalMs?: number;
  graceMs?: number;
}): { stop(): Promise<void>; poke(): void } {
  const { rt, sender } = opts;
  const db = rt.database.db;
  const intervalMs = opts.intervalMs ?? 1000;
  const graceMs = opts.graceMs ?? 0;
  const firstSeen = new Map<number, number>();
  const notBefore = new Map<number, number>();
  let eager = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  async function deliver(row: { id: number; attempts: number }) {
    try {
      const result = await deliverOutbox(
        db,
        { wechaty: sender },
        {
          outboxId: row.id,
          kicker: rt.kicker,
          lastAttempt: row.attempts + 1 >= MAX_ATTEMPTS,
          async onDead(tx, dead, reason) {
            const effects = emptyEffects();
            await reportUndeliverable({ tx, deps: rt.deps, effects, now: rt.deps.clock.now() }, dead, reason);
            return effects;
          },
        },
      );
      if (typeof result !== 'object') return true;
      notBefore.set(row.id, Date.now() + result.waitMs);
    } catch (err) {
      const e = describeError(err);
      if (e.code === LOCK_NOT_AVAILABLE) notBefore.set(row.id, Date.now() + 500);
      else {
        // A failed try (counted on the row): back off as the queue would.
        notBefore.set(row.id, Date.now() + Math.min(300_000, 1000 * 2 ** row.attempts));
        rt.log.warn({ outboxId: row.id, err: e }, 'wechaty delivery failed; will retry');
      }
    }
    return false;
  }

  async function pass(): Promise<void> {
    if (opts.isOnline && !opts.isOnline()) return;
    const now = Date.now();
    const everything = eager;
    eager = false;
    const rows = await db
      .select({ id: outbox.id, attempts: outbox.attempts, chatId: outbox.chatId })
      .from(outbox)
      .where(and(eq(outbox.channel, 'wechaty'), eq(outbox.state, 'pending')))
      .orderBy(asc(outbox.id))
      .limit(BATCH);
    const live = new Set(rows.map((r) => r.id));
    for (const map of [firstSeen, notBefore]) for (const id of map.keys()) if (!live.has(id)) map.delete(id);
    const held = new Set<string>(); // chats with an earlier row still waiting: keep their order
    for (const row of rows) {
      if (stopped) return;
      if (!firstSeen.has(row.id)) firstSeen.set(row.id, now);
      const young = !everything && now - firstSeen.get(row.id)! < graceMs;
      if (held.has(row.chatId) || young || (notBefore.get(row.id) ?? 0) > Date.now()) {
        held.add(row.chatId);
        continue;
      }
      if (!(await deliver(row))) held.add(row.chatId);
    }
  }

  const schedule = (delay: number) => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      running = pass()
        .catch((err) => rt.log.warn({ err: describeError(err) }, 'wechaty delivery pass failed'))
        .finally(() => schedule(intervalMs));
    }, delay);
  };
  schedule(0);

  return {
    /** Sends whatever is waiting now (the account just logged in or became ready). */
    poke() {
      notBefore.clear();
      eager = true;
      void running.then(() => schedule(0));
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
