import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Db } from '../db/client.ts';
import { fireDeadline } from '../flows/deadlines/fire-deadline.ts';
import type { FlowDeps } from '../flows/deps.ts';
import type { Kicker } from '../flows/engine/effects.ts';
import { describeError, type Logger } from '../log.ts';
import { DEADLINE_QUEUE, deadlineJobSchema } from './queues.ts';

/** The BullMQ worker that wakes deadlines; the row decides whether anything happens. */
export function startDeadlineWorker(opts: {
  db: Db;
  deps: FlowDeps;
  kicker: Kicker;
  connection: Redis;
  prefix: string;
  log: Logger;
}): Worker {
  const worker = new Worker(
    DEADLINE_QUEUE,
    async (job: Job) => {
      const parsed = deadlineJobSchema.safeParse(job.data);
      if (!parsed.success) throw new UnrecoverableError('bad deadline job payload');
      const { status, effects } = await fireDeadline(opts.db, opts.deps, parsed.data);
      await opts.kicker.kick(effects);
      return status;
    },
    { connection: opts.connection, prefix: opts.prefix, concurrency: 8 },
  );
  worker.on('failed', (job, err) =>
    opts.log.warn({ jobId: job?.id, err: describeError(err) }, 'deadline job failed'),
  );
  worker.on('error', (err) => opts.log.error({ err: describeError(err) }, 'deadline worker error'));
  return worker;
}
