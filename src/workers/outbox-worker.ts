import { DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq';
import { and, eq, lt, sql } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import pLimit from 'p-limit';
import type { Db, Tx } from '../db/client.ts';
import { outbox } from '../db/schema/index.ts';
import type { Effects, Kicker } from '../flows/engine/effects.ts';
import type { Channel } from '../flows/engine/message.ts';
import { describeError, type Logger } from '../log.ts';
import { deliverBatch } from './deliver-batch.ts';
import { deliverOutbox } from './deliver-outbox.ts';
import { outboxJobSchema, outboxQueueName } from './queues.ts';
import type { Senders } from './senders.ts';

/** Pending rows that may have lost their job (Redis flushed, a crash between commit and kick). */
export async function stalePendingOutbox(
  db: Db,
  opts: { olderThan: Date; limit: number },
): Promise<number[]> {
  const rows = await db
    .select({ id: outbox.id })
    .from(outbox)
    .where(and(eq(outbox.state, 'pending'), lt(outbox.createdAt, opts.olderThan)))
    .orderBy(sql`${outbox.id} asc`)
    .limit(opts.limit);
  return rows.map((r) => r.id);
}

/** The BullMQ worker around `deliverOutbox` (a job per row) and `deliverBatch` (a job per wake-up). */
export function startOutboxWorker(opts: {
  db: Db;
  senders: Senders;
  kicker: Kicker;
  connection: Redis;
  prefix: string;
  log: Logger;
  /** The channel this worker delivers; the process must have its sender. */
  channel: Channel;
  concurrency?: number;
  onDead?: (tx: Tx, row: { id: number; channel: string; chatId: string }, reason: string) => Promise<Effects>;
}): Worker {
  const concurrency = opts.concurrency ?? 16;
  // At most `concurrency` sends at once in this worker, however many of them batches hold: each
  // holds a pool connection while the channel answers.
  const sending = pLimit(concurrency);
  const worker = new Worker(
    outboxQueueName(opts.channel),
    async (job: Job, token?: string) => {
      const parsed = outboxJobSchema.safeParse(job.data);
      if (!parsed.success) throw new UnrecoverableError('bad outbox job payload');
      if ('outboxIds' in parsed.data)
        return deliverBatch(opts.db, opts.senders, {
          outboxIds: parsed.data.outboxIds,
          kicker: opts.kicker,
          log: opts.log,
          onDead: opts.onDead,
          // Without a way to give the row a job, the reconciler picks it up.
          requeue: (id, delayMs) => opts.kicker.retryLater?.(opts.channel, id, delayMs) ?? Promise.resolve(),
          slot: sending,
        });
      const { outboxId } = parsed.data;
      const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      const result = await sending(() =>
        deliverOutbox(opts.db, opts.senders, {
          outboxId,
          kicker: opts.kicker,
          lastAttempt,
          onDead: opts.onDead,
        }),
      );
      if (typeof result === 'object') {
        await job.moveToDelayed(Date.now() + result.waitMs, token);
        throw new DelayedError();
      }
      return result;
    },
    { connection: opts.connection, prefix: opts.prefix, concurrency },
  );
  worker.on('failed', (job, err) =>
    opts.log.warn({ jobId: job?.id, err: describeError(err) }, 'outbox job failed'),
  );
  worker.on('error', (err) => opts.log.error({ err: describeError(err) }, 'outbox worker error'));
  return worker;
}
