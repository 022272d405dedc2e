import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { deleteKeysUnder } from '../../fixtures/redis-keys.ts';
import { createTestDatabase } from '../../fixtures/test-db.ts';
import { testRedisUrl } from '../../fixtures/urls.ts';

/**
 * Runs `src/bot/main.ts` as `npm start` does, with the given environment; `viaNpm` runs `npm start`
 * itself (a process manager's or a container's stop signal reaches npm, not the bot).
 */
function startMain(
  env: Record<string, string>,
  opts: { viaNpm?: boolean } = {},
): {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
} {
  const [command, args] = opts.viaNpm
    ? ['npm', ['start', '--silent']]
    : [process.execPath, ['--import', 'tsx', 'src/bot/main.ts']];
  const child = spawn(command, args, {
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

    async function startOnTestDb(opts: { viaNpm?: boolean } = {}) {
      const prefix = `gsbmain${randomBytes(3).toString('hex')}`;
      onTestFinished(() => deleteKeysUnder(prefix));
      const run = startMain(
        {
          DATABASE_URL: db.url,
          REDIS_URL: testRedisUrl(),
          QUEUE_PREFIX: prefix,
          PORT: '0',
          HOST: '127.0.0.1',
          LOG_LEVEL: 'info',
        },
        opts,
      );
      const started = Date.now();
      let ready: RegExpExecArray | null = null;
      while (!ready && Date.now() - started < 20_000) {
        ready = /"pid":(\d+),"port":(\d+),"workers":true,.*"msg":"gas-service bot ready/.exec(run.out());
        if (!ready) await new Promise((r) => setTimeout(r, 100));
      }
      expect(ready, run.out() + run.err()).not.toBeNull();
      return { run, pid: Number(ready![1]), port: Number(ready![2]) };
    }

    it('is healthy, serves the page, and drains on SIGTERM', async () => {
      const { run, port } = await startOnTestDb();
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

    it('stops when `npm start` is sent SIGTERM, leaving no process behind', async () => {
      const { run, pid } = await startOnTestDb({ viaNpm: true });
      onTestFinished(() => {
        try {
          process.kill(pid, 'SIGKILL'); // left behind only when the test fails
        } catch {}
      });
      expect(pid).not.toBe(run.child.pid);
      run.child.kill('SIGTERM');
      await run.exit;
      const alive = () => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      };
      const since = Date.now();
      while (alive() && Date.now() - since < 10_000) await new Promise((r) => setTimeout(r, 50));
      expect(alive()).toBe(false);
      expect(run.out()).toContain('"signal":"SIGTERM","msg":"shutting down');
      expect(run.out()).toContain('"msg":"stopped"');
    }, 40_000);
  });
});
