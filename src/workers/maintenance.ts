import type { Db } from '../db/client.ts';
import { deadlinesDueBefore } from '../flows/deadlines/fire-deadline.ts';
import type { FlowDeps } from '../flows/deps.ts';
import type { Kicker } from '../flows/engine/effects.ts';
import { sweepIdleDialogues } from '../flows/engine/idle-sweep.ts';
import { processInbound, unprocessedInbound } from '../flows/engine/inbound.ts';
import type { Services } from '../flows/engine/router.ts';
import { describeError, type Logger } from '../log.ts';
import { stalePendingOutbox } from './outbox-worker.ts';
import { TIMER_HORIZON_MS } from './queues.ts';

export interface MaintenanceOptions {
  db: Db;
  deps: FlowDeps;
  services: Services;
  kicker: Kicker;
  log: Logger;
  /** How often to reconcile; deadlines whose timers were lost fire at most this late. */
  intervalMs?: number;
}

/**
 * One reconciliation pass: PostgreSQL is the truth, Redis only holds timers. Re-creates timers
 * for deadlines due soon, jobs for pending outbox rows, processes stored messages that were
 * never handled, and reminds or ends idle dialogues. Every part is safe to run twice.
 */
export async function reconcileOnce(opts: MaintenanceOptions): Promise<void> {
  const { db, deps, kicker, log } = opts;
  const now = Date.now();
  const steps: [string, () => Promise<void>][] = [
    [
      'deadlines',
      async () => {
        const due = await deadlinesDueBefore(db, { until: new Date(now + TIMER_HORIZON_MS), limit: 5000 });
        await kicker.kick({ outboxIds: [], deadlines: due });
      },
    ],
    [
      'outbox',
      async () => {
        const ids = await stalePendingOutbox(db, { olderThan: new Date(now - 5000), limit: 5000 });
        await kicker.kick({ outboxIds: ids, deadlines: [] }, { perRow: true });
      },
    ],
    [
      'inbound',
      async () => {
        for (const id of await unprocessedInbound(db, { olderThan: new Date(now - 10_000), limit: 200 })) {
          const { effects } = await processInbound(db, deps, opts.services, id);
          await kicker.kick(effects);
        }
      },
    ],
    [
      'idle',
      async () => {
        const { effects } = await sweepIdleDialogues(db, deps);
        await kicker.kick(effects);
      },
    ],
  ];
  for (const [name, step] of steps) {
    try {
      await step();
    } catch (err) {
      log.error({ step: name, err: describeError(err) }, 'reconcile step failed');
    }
  }
}

/**
 * Runs `reconcileOnce` on a plain timer, not a BullMQ repeatable job: it must keep running when
 * Redis has lost everything, which is exactly when it is needed.
 */
export function startMaintenance(opts: MaintenanceOptions): { stop(): Promise<void> } {
  let running: Promise<void> | null = null;
  let stopped = false;
  const tick = () => {
    if (running || stopped) return;
    running = reconcileOnce(opts).finally(() => {
      running = null;
    });
  };
  const timer = setInterval(tick, opts.intervalMs ?? 30_000);
  timer.unref();
  tick();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
