import type { Worker } from 'bullmq';
import { emptyEffects } from '../flows/engine/effects.ts';
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
  const outbox = startOutboxWorker({
    ...base,
    senders,
    concurrency: opts.outboxConcurrency,
    async onDead(tx, row, reason) {
      const effects = emptyEffects();
      await reportUndeliverable({ tx, deps: rt.deps, effects, now: rt.deps.clock.now() }, row, reason);
      return effects;
    },
  });
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
    workers: [outbox, deadlines],
    async stop() {
      await maintenance.stop();
      // close() waits for the jobs in hand to finish: nothing is cut off half-way.
      await Promise.all([outbox.close(), deadlines.close()]);
    },
  };
}
