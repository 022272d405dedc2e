// One bot pipeline in a worker thread (bench:inbound --threads): its own runtime (pool, Redis,
// policy), as a separate bot process would have, driving its share of the customers in process.
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { parseEnv } from '../../src/env.ts';
import { createLogger } from '../../src/log.ts';
import { startRuntime } from '../../src/runtime.ts';
import { customerOf, messageOf, STEPS } from './fault-dialogue.ts';
import { TimedPipeline } from './timed-pipeline.ts';

export interface ThreadData {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  poolSize: number;
  phase: string;
  /** This thread's customers: n ≡ index (mod of). */
  customers: number;
  index: number;
  of: number;
  env: Record<string, string | undefined>;
}
export interface ThreadResult {
  latencies: number[];
  failed: number;
  /** performance.timeOrigin-based instants, comparable across threads. */
  startedAt: number;
  endedAt: number;
}

const data = workerData as ThreadData;
const port = parentPort!;
const env = parseEnv({
  DATABASE_URL: data.databaseUrl,
  DATABASE_POOL_SIZE: String(data.poolSize),
  REDIS_URL: data.redisUrl,
  REDIS_AUTOSTART: 'false',
  QUEUE_PREFIX: data.prefix,
  LOG_LEVEL: 'warn',
  NODE_ENV: 'production',
  ...data.env,
});
const rt = await startRuntime({ env, log: createLogger(env.LOG_LEVEL, pino.destination(2)) });
const pipeline = new TimedPipeline(rt);
port.postMessage({ ready: true });
await new Promise((resolve) => port.once('message', resolve));

const latencies: number[] = [];
let failed = 0;
const startedAt = performance.timeOrigin + performance.now();
const mine = Array.from({ length: data.customers }, (_, k) => k).filter((n) => n % data.of === data.index);
await Promise.all(
  mine.map(async (n) => {
    const c = customerOf(data.phase, n);
    for (; c.step < STEPS; c.step++) {
      const msg = messageOf(c);
      await pipeline.receiveAndProcess(msg);
      const t = pipeline.take(msg.channelMessageId);
      if (t?.committed === undefined) failed++;
      else latencies.push(t.committed - t.handed);
    }
  }),
);
const endedAt = performance.timeOrigin + performance.now();
await pipeline.drain();
port.postMessage({ latencies, failed, startedAt, endedAt } satisfies ThreadResult);
// The main thread ends this thread (worker.terminate) once it has the figures.
