import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { deleteKeysUnder } from '../../fixtures/redis-keys.ts';
import { createTestDatabase } from '../../fixtures/test-db.ts';
import { testRedisUrl } from '../../fixtures/urls.ts';

/** Runs `src/bot/main.ts` as `npm start` does, with the given environment. */
function startMain(env: Record<string, string>): {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/bot/main.ts'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exit };
}

describe('npm start', () => {
  it('stops with one clear line naming a bad variable', async () => {
    const run = startMain({ PORT: 'abc' });
    expect(await run.exit).toBe(1);
    expect(run.err().trim()).toBe(
      'Invalid environment variable PORT: Invalid input: expected number, received NaN',
    );
  });

  it('stops with one clear line for a broken policy file', async () => {
    const run = startMain({ POLICY_FILE: '/nonexistent.yaml', DATABASE_URL: 'postgres://127.0.0.1:1/none' });
    expect(await run.exit).toBe(1);
    expect(run.err().trim()).toBe('gas-service bot failed to start: POLICY_FILE /nonexistent.yaml: ENOENT');
  });

  describe('on the machine’s PostgreSQL', () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    beforeAll(async () => {
      db = await createTestDatabase();
    });
    afterAll(async () => {
      await db?.drop();
    });

    it('is healthy, serves the page, and drains on SIGTERM', async () => {
      const prefix = `gsbmain${randomBytes(3).toString('hex')}`;
      onTestFinished(() => deleteKeysUnder(prefix));
      const run = startMain({
        DATABASE_URL: db.url,
        REDIS_URL: testRedisUrl(),
        QUEUE_PREFIX: prefix,
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
      });
      const started = Date.now();
      let port: number | undefined;
      while (!port && Date.now() - started < 20_000) {
        const ready = /"port":(\d+),"workers":true,.*"msg":"gas-service bot ready/.exec(run.out());
        if (ready) port = Number(ready[1]);
        else await new Promise((r) => setTimeout(r, 100));
      }
      expect(port, run.out() + run.err()).toBeDefined();
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', db: 'ok', redis: 'ok' });
      const page = await fetch(`http://127.0.0.1:${port}/`);
      expect(await page.text()).toContain('<html');
      const post = await fetch(`http://127.0.0.1:${port}/api/web/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ chatId: 'c-boot', userId: 'boot', text: '你好' }),
      });
      expect(post.status).toBe(202);
      run.child.kill('SIGTERM');
      expect(await run.exit).toBe(0);
      expect(run.out()).toContain('"msg":"stopped"');
    }, 40_000);
  });
});
