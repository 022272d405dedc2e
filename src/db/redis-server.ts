import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

const PROBE_TIMEOUT_MS = 1_000;
const SPAWN_READY_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 10_000;
const OUTPUT_TAIL_LINES = 15;

export interface RedisHandle {
  url: string;
  /** Stops the redis-server we started (no-op when we found one running). Idempotent. */
  stop(): Promise<void>;
}

type Probe = { ok: true } | { ok: false; replied: boolean; loading: boolean; reason: string };

/**
 * Makes sure a Redis answers at `url`. When nothing answers, the url is plain redis:// on loopback
 * without credentials and `redis-server` is on PATH (found by spawning it), starts one for the bot
 * with its data (AOF) in `<dataDir>/redis`. Throws one-line, actionable errors otherwise.
 *
 * The server runs in its own process group, so a Ctrl-C in the terminal reaches only the bot, which
 * can then close its queues before calling stop(). If the bot dies without stopping it, the server
 * keeps running and the next start simply finds and uses it.
 */
export async function ensureRedis(opts: {
  url: string;
  dataDir: string;
  log: Logger;
  spawnIfMissing?: boolean;
}): Promise<RedisHandle> {
  const { url, log } = opts;
  const shown = redactUrl(url);
  const probe = await ping(url);
  // LOADING: a server is there, replaying its AOF; clients wait for it on their own.
  if (probe.ok || probe.loading) {
    log.debug(`Redis is answering at ${shown}`);
    return { url, stop: async () => {} };
  }
  if (probe.replied) throw new Error(`Redis at ${shown} refused PING (${probe.reason}): fix REDIS_URL`);

  const target = new URL(url);
  if (target.protocol !== 'redis:' || !isLoopback(target.hostname)) {
    throw new Error(`Redis is not answering at ${shown} (${probe.reason}): start it or fix REDIS_URL`);
  }
  if (opts.spawnIfMissing === false) {
    throw new Error(
      `Redis is not answering at ${shown} and starting one is disabled (REDIS_AUTOSTART=false): start Redis or set REDIS_URL`,
    );
  }
  if (target.username || target.password) {
    // A server we start would have no password, so the credentials would fail anyway.
    throw new Error(
      `Redis is not answering at ${shown}; not starting a local redis-server because REDIS_URL has credentials: start your Redis`,
    );
  }
  return startRedisServer({ url, target, dataDir: path.resolve(opts.dataDir, 'redis'), log });
}

/**
 * Warns when Redis may evict keys: BullMQ keeps jobs as ordinary keys, so any policy other than
 * `noeviction` can silently lose queued work under memory pressure. Returns the policy, or null when
 * CONFIG is not permitted (managed Redis services often disable it).
 */
export async function checkEvictionPolicy(redis: Redis, log: Logger): Promise<string | null> {
  let reply: unknown;
  try {
    reply = await redis.config('GET', 'maxmemory-policy');
  } catch (error) {
    log.info(
      `Cannot read the Redis maxmemory-policy (${(error as Error).message}); make sure it is noeviction`,
    );
    return null;
  }
  // RESP2 gives [name, value]; RESP3 gives a map.
  const policy = Array.isArray(reply)
    ? reply[1]
    : reply && typeof reply === 'object'
      ? (reply as Record<string, unknown>)['maxmemory-policy']
      : undefined;
  if (typeof policy !== 'string') {
    log.info('Cannot read the Redis maxmemory-policy; make sure it is noeviction');
    return null;
  }
  if (policy !== 'noeviction') {
    log.warn(
      `Redis maxmemory-policy is ${policy}: BullMQ needs noeviction, or Redis may evict queued jobs when memory runs out (CONFIG SET maxmemory-policy noeviction)`,
    );
  }
  return policy;
}

async function startRedisServer(p: {
  url: string;
  target: URL;
  dataDir: string;
  log: Logger;
}): Promise<RedisHandle> {
  const { log, url } = p;
  await fs.mkdir(p.dataDir, { recursive: true, mode: 0o700 });
  const port = p.target.port || '6379';
  const bind = p.target.hostname === '[::1]' || p.target.hostname === '::1' ? '::1' : '127.0.0.1';
  const args = [
    '--port',
    port,
    '--bind',
    bind,
    '--dir',
    p.dataDir,
    '--appendonly',
    'yes',
    '--save',
    '',
    '--maxmemory-policy',
    'noeviction',
    '--daemonize',
    'no',
  ];
  const t0 = performance.now();
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const exited = new Promise<string>((resolve) => {
    child.once('error', (error) => resolve(error.message));
    child.once('exit', (code, signal) => resolve(`exited with code ${code}, signal ${signal}`));
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  }).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'ENOENT'
      ? new Error(
          `Redis is not answering at ${redactUrl(url)} and redis-server is not installed: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL`,
        )
      : new Error(`Could not start redis-server: ${error.message}`);
  });
  const output: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (!line.trim()) continue;
      output.push(line.trimEnd());
      if (output.length > OUTPUT_TAIL_LINES) output.shift();
      log.debug({ source: 'redis' }, line.trimEnd());
    }
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  // Safety net for a bot that exits without stop(): 'exit' handlers must be synchronous, and kill is.
  const killOnExit = () => child.kill('SIGTERM');
  process.once('exit', killOnExit);

  let exitReason: string | undefined;
  void exited.then((reason) => {
    exitReason = reason;
  });
  const deadline = Date.now() + SPAWN_READY_TIMEOUT_MS;
  for (;;) {
    const probe = await ping(url);
    if (probe.ok) break;
    if (exitReason !== undefined || Date.now() > deadline) {
      process.removeListener('exit', killOnExit);
      if (exitReason === undefined) await terminate(child, exited);
      const why = exitReason ?? `not answering after ${SPAWN_READY_TIMEOUT_MS / 1000} s`;
      throw new Error(
        `redis-server on ${bind}:${port} failed to start (${why}). Its output:\n${output.join('\n')}`,
      );
    }
    await sleep(50);
  }
  log.info(
    `Started redis-server on ${bind}:${port} for the bot (data in ${p.dataDir}, ${Math.round(performance.now() - t0)} ms)`,
  );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.removeListener('exit', killOnExit);
      await terminate(child, exited);
    })();
    return stopping;
  };
  return { url, stop };
}

/** SIGTERM (Redis then fsyncs the AOF and exits), SIGKILL if it hangs. */
async function terminate(child: ChildProcess, exited: Promise<string>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS);
  });
  if ((await Promise.race([exited, timeout])) === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
  clearTimeout(timer);
}

/**
 * One PING with a short timeout and no reconnects, so a missing server costs at most ~1 s and leaves
 * no client retrying in the background.
 */
async function ping(url: string): Promise<Probe> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: PROBE_TIMEOUT_MS,
    commandTimeout: PROBE_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    reconnectOnError: () => false,
    enableOfflineQueue: false,
    // The ready check would retry INFO while Redis loads its data; we want to see LOADING instead.
    enableReadyCheck: false,
  });
  // Failures surface through the awaited calls; without a listener ioredis logs "Unhandled error event".
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return { ok: true };
  } catch (error) {
    const reason = (error as Error).message;
    return {
      ok: false,
      replied: (error as Error).name === 'ReplyError',
      loading: reason.startsWith('LOADING'),
      reason,
    };
  } finally {
    client.disconnect();
  }
}

function isLoopback(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname === '[::1]' ||
    hostname === '::1' ||
    /^127(\.\d{1,3}){3}$/.test(hostname)
  );
}

/** The url without its password, for messages and logs. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(invalid REDIS_URL)';
  }
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));
