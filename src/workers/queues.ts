import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { outbox } from '../db/schema/index.ts';
import { inJson } from '../flows/engine/batch.ts';
import type { Effects, Kicker } from '../flows/engine/effects.ts';
import type { Channel } from '../flows/engine/message.ts';
import { describeError, type Logger } from '../log.ts';

/** One outbox queue per channel: a process runs workers only for the channels it can send on. */
export const CHANNELS: Channel[] = ['web', 'telegram', 'wechat-oa', 'wechaty'];
export const outboxQueueName = (channel: Channel) => `outbox-${channel}`;
export const DEADLINE_QUEUE = 'deadlines';

/** Most rows in one wake-up job; a longer list is split. */
export const OUTBOX_BATCH_MAX = 200;

/**
 * Job payloads carry ids only, never personal data. An outbox job is either one row, or the rows
 * one commit queued on a channel (delivered together, see deliverBatch).
 */
export const outboxJobSchema = z.union([
  z.object({ outboxId: z.number().int().positive() }),
  z.object({ outboxIds: z.array(z.number().int().positive()).min(1).max(OUTBOX_BATCH_MAX) }),
]);
export const deadlineJobSchema = z.object({
  deadlineId: z.number().int().positive(),
  nextAtMs: z.number().int(),
});

export const outboxJobId = (id: number) => `outbox-${id}`;
/** The same rows give the same id, so a wake-up added twice runs once. `ids` ascend. */
export const outboxBatchJobId = (ids: number[]) => `outbox-batch-${ids[0]}-${ids.at(-1)}-${ids.length}`;
export const deadlineJobId = (id: number, nextAtMs: number) => `deadline-${id}-${nextAtMs}`;

/** Timers are kept in Redis only for deadlines due within this window; the rest wait in PostgreSQL. */
export const TIMER_HORIZON_MS = 10 * 60_000;

/** A Redis connection as BullMQ needs it (commands wait for reconnects instead of failing). */
export function connectRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true });
}

export interface Queues {
  outbox: Record<Channel, Queue>;
  deadlines: Queue;
  close(): Promise<void>;
}

const defaultJobOptions = {
  removeOnComplete: true,
  removeOnFail: { age: 7 * 24 * 3600 },
};

export function createQueues(connection: Redis, prefix: string): Queues {
  const outbox = Object.fromEntries(
    CHANNELS.map((channel) => [
      channel,
      new Queue(outboxQueueName(channel), {
        connection,
        prefix,
        defaultJobOptions: {
          ...defaultJobOptions,
          attempts: 8,
          backoff: { type: 'exponential', delay: 1000 },
        },
      }),
    ]),
  ) as Record<Channel, Queue>;
  const deadlines = new Queue(DEADLINE_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: { ...defaultJobOptions, attempts: 10, backoff: { type: 'exponential', delay: 2000 } },
  });
  return {
    outbox,
    deadlines,
    close: async () => {
      await Promise.all([...Object.values(outbox).map((q) => q.close()), deadlines.close()]);
    },
  };
}

const rowJob = (outboxId: number) => ({
  name: 'deliver',
  data: { outboxId },
  opts: { jobId: outboxJobId(outboxId) },
});

/**
 * Adds the jobs with one `add` each, all sent at once, not with `addBulk`. BullMQ's `addBulk` goes
 * through an ioredis Pipeline, and every Pipeline gets a hidden class of its own (its `length`
 * getter is defined per instance). V8 keeps hidden classes in the old generation, and through that
 * one its young-generation collector keeps the whole pipeline (commands, job data, replies) until
 * the next full collection: a loop of one-job `addBulk` calls had 11 KB a call promoted, `add`
 * 0.7 KB (see README, Performance). Neither is atomic (a pipeline is not a transaction); job ids
 * are deterministic, so a job added twice is added once.
 */
async function addJobs(
  queue: Queue,
  jobs: { name: string; data: unknown; opts: Parameters<Queue['add']>[2] }[],
): Promise<void> {
  await Promise.all(jobs.map((job) => queue.add(job.name, job.data, job.opts)));
}

function chunked<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Wakes the workers after a commit: one job per channel for the outbox rows of the call (one per
 * row with `perRow`), one timer per deadline wake-up that falls within the horizon. Job ids are
 * deterministic, so adding one twice adds it once.
 */
export function createKicker(queues: Queues, db: Db, log: Logger): Kicker {
  const retryLater = async (channel: string, outboxId: number, delayMs: number) => {
    const queue = queues.outbox[channel as Channel];
    if (!queue) return;
    const delay = Math.max(0, delayMs);
    try {
      // A row that has a job keeps it, rescheduled if it sleeps: the row is due in `delay` now,
      // not when its job last looked (a wait for an earlier row is longer than a rate limit).
      const job = await queue.getJob(outboxJobId(outboxId));
      if (!job) await queue.add('deliver', { outboxId }, { jobId: outboxJobId(outboxId), delay });
      else if (await job.isDelayed()) await (delay === 0 ? job.promote() : job.changeDelay(delay));
    } catch (err) {
      // A job that moved on in between (running or done) is fine too.
      log.debug(
        { outboxId, err: describeError(err) },
        'could not reschedule the message; its job or the reconciler will',
      );
    }
  };
  return {
    async kick(effects: Effects, opts: { perRow?: boolean } = {}) {
      try {
        if (effects.outboxIds.length > 0) {
          // Which queue a row goes to depends on its channel: known for rows queued in this
          // process, looked up for the others (the reconciler's, a waiting row's predecessor).
          const known = effects.outboxChannels ?? {};
          const unknown = effects.outboxIds.filter((id) => known[id] === undefined);
          const rows = effects.outboxIds
            .filter((id) => known[id] !== undefined)
            .map((id) => ({ id, channel: known[id]! }));
          if (unknown.length > 0)
            rows.push(
              ...(await db
                .select({ id: outbox.id, channel: outbox.channel })
                .from(outbox)
                .where(inJson(outbox.id, unknown, 'int'))),
            );
          for (const channel of CHANNELS) {
            const ids = rows
              .filter((r) => r.channel === channel)
              .map((r) => r.id)
              .sort((a, b) => a - b);
            if (ids.length === 0) continue;
            const jobs = opts.perRow
              ? ids.map(rowJob)
              : chunked(ids, OUTBOX_BATCH_MAX).map((chunk) =>
                  chunk.length === 1
                    ? rowJob(chunk[0]!)
                    : {
                        name: 'deliver',
                        data: { outboxIds: chunk },
                        opts: { jobId: outboxBatchJobId(chunk) },
                      },
                );
            await addJobs(queues.outbox[channel], jobs);
          }
        }
        const now = Date.now();
        const soon = effects.deadlines.filter((d) => d.nextAt.getTime() <= now + TIMER_HORIZON_MS);
        if (soon.length > 0)
          await addJobs(
            queues.deadlines,
            soon.map((d) => ({
              name: 'fire',
              data: { deadlineId: d.id, nextAtMs: d.nextAt.getTime() },
              opts: {
                jobId: deadlineJobId(d.id, d.nextAt.getTime()),
                delay: Math.max(0, d.nextAt.getTime() - now),
              },
            })),
          );
      } catch (err) {
        // The rows are committed; the reconciler will create the jobs this call could not.
        log.warn({ err: describeError(err) }, 'could not wake workers; the reconciler will');
      }
    },
    retryLater,
    // The next row is due now: the same as a retry without a delay.
    wakeNext: (channel, outboxId) => retryLater(channel, outboxId, 0),
  };
}
