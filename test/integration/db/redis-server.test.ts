import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkEvictionPolicy, ensureRedis, type RedisHandle } from '../../../src/db/redis-server.ts';
import { capturingLogger } from '../../fixtures/logger.ts';

const silent = pino({ level: 'silent' });

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Files under dir, recursively, as paths relative to it. */
function listFiles(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true }).map(String) : [];
}

describe('ensureRedis', () => {
  let dataDir: string;
  let handle: RedisHandle | undefined;
  let client: Redis | undefined;

  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gsb-redis-'));
  });

  afterEach(async () => {
    client?.disconnect();
    client = undefined;
    await handle?.stop();
    handle = undefined;
  });

  afterAll(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts a redis-server with an AOF when nothing answers on a loopback port, and stop() kills it', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    handle = await ensureRedis({ url, dataDir, log: silent });
    expect(handle.url).toBe(url);

    client = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    await client.set('gsb:test', 'hello');
    expect(await client.get('gsb:test')).toBe('hello');
    expect(await checkEvictionPolicy(client, silent)).toBe('noeviction');

    // Redis 7 keeps the AOF as a directory of files; Redis 6 as a single appendonly.aof.
    const aofs = listFiles(path.join(dataDir, 'redis')).filter((f) => /\.aof$/.test(f));
    expect(aofs.length).toBeGreaterThan(0);
    const written = aofs.map((f) => fs.readFileSync(path.join(dataDir, 'redis', f), 'utf8')).join('');
    expect(written).toContain('gsb:test');
    client.disconnect();
    client = undefined;

    await handle.stop();
    await handle.stop(); // idempotent
    handle = undefined;
    await expect(ensureRedis({ url, dataDir, log: silent, spawnIfMissing: false })).rejects.toThrow(
      'is not answering',
    );
  });

  it("uses the machine's Redis when it answers, without starting one", async () => {
    const own = path.join(dataDir, 'machine');
    handle = await ensureRedis({ url: 'redis://127.0.0.1:6379', dataDir: own, log: silent });
    expect(handle.url).toBe('redis://127.0.0.1:6379');
    expect(fs.existsSync(path.join(own, 'redis'))).toBe(false);
    await handle.stop(); // no-op: the machine's Redis keeps running
    client = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 0 });
    expect(await client.ping()).toBe('PONG');
  });

  it('throws one line when nothing answers and starting is disabled, quickly and without retries', async () => {
    const port = await freePort();
    const t0 = performance.now();
    const error = await ensureRedis({
      url: `redis://127.0.0.1:${port}`,
      dataDir,
      log: silent,
      spawnIfMissing: false,
    }).catch((e: Error) => e);
    expect(performance.now() - t0).toBeLessThan(1_500);
    expect((error as Error).message).toBe(
      `Redis is not answering at redis://127.0.0.1:${port} and starting one is disabled (REDIS_AUTOSTART=false): start Redis or set REDIS_URL`,
    );
  });

  it('throws one line telling how to install Redis when redis-server is not on PATH', async () => {
    const port = await freePort();
    const savedPath = process.env.PATH;
    process.env.PATH = path.join(dataDir, 'empty-bin');
    try {
      const error = await ensureRedis({ url: `redis://127.0.0.1:${port}`, dataDir, log: silent }).catch(
        (e: Error) => e,
      );
      expect((error as Error).message).toBe(
        `Redis is not answering at redis://127.0.0.1:${port} and redis-server is not installed: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL`,
      );
    } finally {
      process.env.PATH = savedPath;
    }
  });

  it('reports the port when redis-server cannot bind it', async () => {
    const blocker = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      await expect(ensureRedis({ url: `redis://127.0.0.1:${port}`, dataDir, log: silent })).rejects.toThrow(
        `redis-server on 127.0.0.1:${port} failed to start`,
      );
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});

describe('checkEvictionPolicy', () => {
  const fake = (config: () => Promise<unknown>) => ({ config }) as unknown as Redis;

  it('warns when the policy can evict BullMQ keys', async () => {
    const { log, lines } = capturingLogger();
    const policy = await checkEvictionPolicy(
      fake(async () => ['maxmemory-policy', 'allkeys-lru']),
      log,
    );
    expect(policy).toBe('allkeys-lru');
    expect(lines()).toEqual([
      expect.objectContaining({ level: 40, msg: expect.stringContaining('BullMQ needs noeviction') }),
    ]);
  });

  it('returns null and logs at info when CONFIG is not permitted', async () => {
    const { log, lines } = capturingLogger();
    const policy = await checkEvictionPolicy(
      fake(async () => {
        throw new Error("ERR unknown command 'CONFIG'");
      }),
      log,
    );
    expect(policy).toBeNull();
    expect(lines()).toEqual([expect.objectContaining({ level: 30 })]);
  });
});
