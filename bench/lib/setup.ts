import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import postgres from 'postgres';
import { parseEnv } from '../../src/env.ts';
import { createLogger } from '../../src/log.ts';
import { type Runtime, startRuntime } from '../../src/runtime.ts';

/** Where the benches find PostgreSQL (a database to create others from) and Redis: the test machine's. */
export const adminDatabaseUrl = () =>
  process.env.BENCH_DATABASE_URL ??
  process.env.TEST_DATABASE_URL ??
  'postgres://postgres@127.0.0.1:5432/test';
export const benchRedisUrl = () =>
  process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/**
 * A fresh, empty database, created like test/fixtures/test-db.ts does (the runtime migrates it on
 * start); `drop()` removes it, even with connections still open.
 */
export async function createBenchDatabase(tag: string): Promise<BenchDatabase> {
  const name = `gsb_bench_${tag}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(adminDatabaseUrl(), { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(adminDatabaseUrl());
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: url.toString(),
    async drop() {
      if (dropped) return;
      dropped = true;
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end({ timeout: 1 });
    },
  };
}

export interface Bench {
  rt: Runtime;
  db: BenchDatabase;
  prefix: string;
  /** Registers something to undo before the runtime stops (last registered, first run). */
  onCleanup(fn: () => Promise<unknown>): void;
  /** Stops what was registered, obliterates this run's queues and keys, stops the runtime, drops the database. */
  cleanup(): Promise<void>;
}

/**
 * Starts the bot's runtime the way `npm start` does (policy → PostgreSQL → migrations → Redis →
 * queues) on a fresh database and a unique QUEUE_PREFIX, logging to stderr only. Ctrl-C and
 * uncaught errors still clean up. `env` adds (or overrides) variables of the bot's environment,
 * e.g. TELEGRAM_BOT_TOKEN and TELEGRAM_API_ROOT.
 */
export async function startBench(
  tag: string,
  opts: { poolSize: number; logLevel?: string; env?: Record<string, string> } = { poolSize: 10 },
): Promise<Bench> {
  const db = await createBenchDatabase(tag);
  const prefix = `gsbbench${tag}${randomBytes(4).toString('hex')}`;
  const undo: (() => Promise<unknown>)[] = [];
  let rt: Runtime | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= (async () => {
      for (const fn of undo.reverse()) await fn().catch((err) => console.error(`cleanup: ${String(err)}`));
      if (rt) {
        await deletePrefix(rt.redis, prefix, rt.queues).catch((err) =>
          console.error(`cleanup: could not remove queue keys ${prefix}:*: ${String(err)}`),
        );
        await rt.stop();
      }
      await db.drop().catch((err) => console.error(`cleanup: could not drop ${db.name}: ${String(err)}`));
    })();
    return cleaning;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`${signal}: cleaning up (database ${db.name}, queues ${prefix})`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const env = parseEnv({
      DATABASE_URL: db.url,
      DATABASE_POOL_SIZE: String(opts.poolSize),
      REDIS_URL: benchRedisUrl(),
      REDIS_AUTOSTART: 'false',
      QUEUE_PREFIX: prefix,
      LOG_LEVEL: opts.logLevel ?? process.env.BENCH_LOG_LEVEL ?? 'warn',
      NODE_ENV: 'production',
      WEB_CHAT: 'true',
      // The bench is the only client on loopback: the per-address send limit would only measure itself.
      WEB_API_SEND_LIMIT: '0',
      // The inbound batching and statement settings, as the bot takes them (to compare settings run to run).
      INBOUND_BATCH_MAX: process.env.INBOUND_BATCH_MAX,
      INBOUND_BATCH_CONCURRENCY: process.env.INBOUND_BATCH_CONCURRENCY,
      INBOUND_BEGIN_AHEAD_MS: process.env.INBOUND_BEGIN_AHEAD_MS,
      DATABASE_PREPARE: process.env.DATABASE_PREPARE,
      ...opts.env,
    });
    const log = createLogger(env.LOG_LEVEL, pino.destination(2));
    rt = await startRuntime({ env, log });
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { rt, db, prefix, onCleanup: (fn) => undo.push(fn), cleanup };
}

/** Obliterates this run's queues and deletes whatever else is left under the prefix (worker markers, metrics). */
async function deletePrefix(redis: Redis, prefix: string, queues: Runtime['queues']): Promise<void> {
  for (const q of [...Object.values(queues.outbox), queues.deadlines])
    await q.obliterate({ force: true }).catch(() => {});
  for (const key of await scanKeys(redis, `${prefix}:*`)) await redis.unlink(key);
}

export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

/** `INFO memory` used_memory, in bytes (the whole Redis: other users of a shared Redis move it too). */
export async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

/** Bytes held by the keys under a prefix (`MEMORY USAGE … SAMPLES 0`, exact), and how many keys. */
export async function prefixMemory(redis: Redis, prefix: string): Promise<{ keys: number; bytes: number }> {
  const keys = await scanKeys(redis, `${prefix}:*`);
  let bytes = 0;
  for (let i = 0; i < keys.length; i += 500) {
    const pipe = redis.pipeline();
    for (const key of keys.slice(i, i + 500)) pipe.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
    for (const [err, n] of (await pipe.exec()) ?? []) if (!err) bytes += Number(n ?? 0);
  }
  return { keys: keys.length, bytes };
}

/** A plain Redis client for measuring (not the runtime's, so its commands do not queue behind BullMQ's). */
export function measuringRedis(): Redis {
  return new Redis(benchRedisUrl(), { maxRetriesPerRequest: 1, lazyConnect: false });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
