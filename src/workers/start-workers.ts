import type { Worker } from 'bullmq';
import type { Tx } from '../db/client.ts';
import { emptyEffects } from '../flows/engine/effects.ts';
import type { Channel } from '../flows/engine/message.ts';
import { reportUndeliverable } from '../flows/outbox/undeliverable.ts';
import type { Runtime } from '../runtime.ts';
import { startDeadlineWorker } from './deadline-worker.ts';
import { startMaintenance } from './maintenance.ts';
import { startOutboxWorker } from './outbox-worker.ts';
import type { Senders } from './senders.ts';

export interface RunningWorkers {
  workers: Worker[];
  stop(): Promise<void>;
}

/** Starts the outbox and deadline workers and the reconciler on a runtime. */
export function startWorkers(
  rt: Runtime,
  senders: Senders,
  opts: { maintenanceIntervalMs?: number; outboxConcurrency?: number } = {},
): RunningWorkers {
  const base = {
    db: rt.database.db,
    kicker: rt.kicker,
    connection: rt.redis,
    prefix: rt.env.QUEUE_PREFIX,
    log: rt.log,
  };
  async function onDead(tx: Tx, row: { id: number; channel: string; chatId: string }, reason: string) {
    const effects = emptyEffects();
    await reportUndeliverable({ tx, deps: rt.deps, effects, now: rt.deps.clock.now() }, row, reason);
    return effects;
  }
  // One worker per channel this process can send on; the other channels' rows wait for theirs.
  const outboxWorkers = (Object.keys(senders) as Channel[]).map((channel) =>
    startOutboxWorker({ ...base, channel, senders, concurrency: opts.outboxConcurrency, onDead }),
  );
  const deadlines = startDeadlineWorker({ ...base, deps: rt.deps });
  const maintenance = startMaintenance({
    db: rt.database.db,
    deps: rt.deps,
    services: rt.services,
    kicker: rt.kicker,
    log: rt.log,
    intervalMs: opts.maintenanceIntervalMs,
  });
  return {
    workers: [...outboxWorkers, deadlines],
    async stop() {
      await maintenance.stop();
      // close() waits for the jobs in hand to finish: nothing is cut off half-way.
      await Promise.all([...outboxWorkers.map((w) => w.close()), deadlines.close()]);
    },
  };
}
