import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import {
  checkAutovacuum,
  checkDriverPatch,
  connectDatabase,
  type Database,
  migrateDatabase,
} from './db/client.ts';
import { startEmbeddedPostgres } from './db/embedded-postgres.ts';
import { checkEvictionPolicy, ensureRedis } from './db/redis-server.ts';
import type { Env } from './env.ts';
import { type Clock, systemClock } from './flows/clock.ts';
import { createFlowDeps, type FlowDeps } from './flows/deps.ts';
import type { Kicker } from './flows/engine/effects.ts';
import type { Services } from './flows/engine/router.ts';
import { syncOrganisation } from './flows/org/sync-organisation.ts';
import { loadPolicy } from './flows/policy/load.ts';
import type { Policy } from './flows/policy/schema.ts';
import { createServices } from './flows/registry.ts';
import { describeError, type Logger } from './log.ts';
import { connectRedis, createKicker, createQueues, type Queues } from './workers/queues.ts';

/** Everything a bot or worker process shares: database, Redis, queues, rules, services. */
export interface Runtime {
  env: Env;
  log: Logger;
  database: Database;
  redis: Redis;
  queues: Queues;
  kicker: Kicker;
  deps: FlowDeps;
  services: Services;
  /** Calendar years near now that have no holiday data (deadlines there count weekends only). */
  calendarGaps(): number[];
  stop(): Promise<void>;
}

/**
 * Starts the shared parts in order: policy → PostgreSQL (embedded when DATABASE_URL is unset) →
 * migrations → organisation from the policy → Redis (started when missing) → queues.
 */
export async function startRuntime(opts: {
  env: Env;
  log: Logger;
  clock?: Clock;
  policy?: Policy;
}): Promise<Runtime> {
  const { env, log } = opts;
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse())
      await stop().catch((err) => log.warn({ err: describeError(err) }, 'stop failed'));
  };
  try {
    const policy = opts.policy ?? (await loadPolicy(env.POLICY_FILE));
    const deps = createFlowDeps({ policy, clock: opts.clock ?? systemClock, log });
    const calendarGaps = () => {
      const year = Number(new Date(deps.clock.now().getTime() + 8 * 3600_000).getUTCFullYear());
      return deps.calendar.missingYears([year, year + 1]);
    };
    const gaps = calendarGaps();
    if (gaps.length > 0)
      log.warn(
        { years: gaps },
        `calendar: no PRC holiday data for ${gaps.join(', ')}; working-day deadlines there count weekends only — add calendar.years to the policy`,
      );

    const dataDir = resolve(env.DATA_DIR);
    let url = env.DATABASE_URL;
    if (!url) {
      await mkdir(dataDir, { recursive: true });
      const pg = await startEmbeddedPostgres({
        dataDir: join(dataDir, 'pg'),
        port: env.EMBEDDED_PG_PORT,
        log,
      });
      stops.push(pg.stop);
      url = pg.url;
    }
    const database = connectDatabase(url, { max: env.DATABASE_POOL_SIZE, prepare: env.DATABASE_PREPARE });
    stops.push(database.close);
    await migrateDatabase(database);
    await checkAutovacuum(database.sql, log);
    checkDriverPatch(database.sql, log);
    await syncOrganisation(database.db, policy);

    const redisServer = await ensureRedis({
      url: env.REDIS_URL,
      dataDir,
      log,
      spawnIfMissing: env.REDIS_AUTOSTART,
    });
    stops.push(redisServer.stop);
    const redis = connectRedis(redisServer.url);
    redis.on('error', (err) => log.warn({ err: describeError(err) }, 'redis connection error'));
    stops.push(async () => {
      await redis.quit().catch(() => redis.disconnect());
    });
    await checkEvictionPolicy(redis, log);
    const queues = createQueues(redis, env.QUEUE_PREFIX);
    stops.push(queues.close);

    return {
      env,
      log,
      database,
      redis,
      queues,
      kicker: createKicker(queues, database.db, log),
      deps,
      services: createServices(),
      calendarGaps,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
