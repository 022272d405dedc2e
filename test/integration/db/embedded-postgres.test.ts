import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from '../../../src/db/embedded-postgres.ts';

const modulePath = path.resolve(import.meta.dirname, '../../../src/db/embedded-postgres.ts');

/** A logger that keeps message strings, for the few assertions about what gets logged. */
function captureLogger() {
  const messages: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) messages.push(JSON.parse(line).msg);
      done();
    },
  });
  return { log: pino({ level: 'info' }, sink), messages };
}

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

async function query<T extends object>(url: string, text: string): Promise<T[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return [...(await sql.unsafe<T[]>(text))];
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Alive and not a zombie waiting for PID 1 to reap it. */
function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

async function waitFor(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('startEmbeddedPostgres', () => {
  const silent = pino({ level: 'silent' });
  let root: string;
  let dataDir: string;
  let port: number;
  let running: EmbeddedPostgresHandle | undefined;

  beforeAll(async () => {
    // mkdtemp makes a 0700 directory: the postgres OS user cannot traverse it until we fix that.
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'gsb-pg-'));
    dataDir = path.join(root, 'pg');
    port = await freePort();
  });

  afterAll(async () => {
    await running?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('initialises under a 0700 temp dir, serves queries, and keeps data across restarts', async () => {
    const { log, messages } = captureLogger();
    running = await startEmbeddedPostgres({ dataDir, port, log });
    expect(running.url).toMatch(
      new RegExp(`^postgres://postgres:[^@]+@127\\.0\\.0\\.1:${port}/gas_service$`),
    );
    expect(await query(running.url, 'select 1 as one')).toEqual([{ one: 1 }]);
    await query(running.url, "create table kept (v text); insert into kept values ('燃气')");
    await running.stop();
    await running.stop(); // idempotent

    if (process.getuid?.() === 0) {
      expect(messages).toContain(
        `Added o+x (traverse only, not read) to ${fs.realpathSync(root)} so the postgres user can reach the embedded PostgreSQL`,
      );
    }
    const passwordFile = path.join(root, 'pg.password');
    expect(fs.statSync(passwordFile).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(path.join(dataDir, 'PG_VERSION'))).toBe(true);

    running = await startEmbeddedPostgres({ dataDir, port, log: silent });
    expect(await query(running.url, 'select v from kept')).toEqual([{ v: '燃气' }]);
    expect(
      await query(
        running.url,
        'select pg_encoding_to_char(encoding) as enc from pg_database where datname = current_database()',
      ),
    ).toEqual([{ enc: 'UTF8' }]);
    await running.stop();
    running = undefined;
  });

  it('recovers after the server was killed, leaving a stale postmaster.pid', async () => {
    running = await startEmbeddedPostgres({ dataDir, port, log: silent });
    const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGKILL');
    await waitFor(() => !isAlive(pid));
    expect(fs.existsSync(path.join(dataDir, 'postmaster.pid'))).toBe(true);
    await running.stop(); // the server is already gone: must not hang

    running = await startEmbeddedPostgres({ dataDir, port, log: silent });
    expect(await query(running.url, 'select count(*)::int as n from kept')).toEqual([{ n: 1 }]);
    await running.stop();
    running = undefined;
  });

  // PostgreSQL alone refuses a lock file whose PID is alive and owned by its own OS user.
  it.runIf(process.getuid?.() === 0)(
    'ignores a postmaster.pid whose PID was reused by another process of the postgres user',
    async () => {
      const uid = fs.statSync(dataDir).uid;
      const sleeper = spawn('sleep', ['60'], { uid, gid: fs.statSync(dataDir).gid, stdio: 'ignore' });
      try {
        const lockFile = path.join(dataDir, 'postmaster.pid');
        fs.writeFileSync(lockFile, `${sleeper.pid}\n${dataDir}\n0\n${port}\n\n127.0.0.1\n0 0\nready\n`);
        fs.chownSync(lockFile, uid, fs.statSync(dataDir).gid);
        running = await startEmbeddedPostgres({ dataDir, port, log: silent });
        expect(await query(running.url, 'select count(*)::int as n from kept')).toEqual([{ n: 1 }]);
        await running.stop();
        running = undefined;
      } finally {
        sleeper.kill();
      }
    },
  );

  /** Starts the server from another node process, which then stays alive until killed. */
  async function startInChild() {
    const script = `const { startEmbeddedPostgres } = await import(${JSON.stringify(modulePath)});
      const { pino } = await import('pino');
      const pg = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)}, port: ${port}, log: pino({ level: 'silent' }) });
      process.on('SIGTERM', () => pg.stop().then(() => process.exit(0)));
      process.stdout.write('READY\\n');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: path.resolve(import.meta.dirname, '../../..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => c.toString().includes('READY') && resolve());
      child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
    });
    const serverPid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return { child, serverPid };
  }

  it('shares a server that another live process owns, and leaves it running on stop', async () => {
    const { child, serverPid } = await startInChild();
    try {
      const shared = await startEmbeddedPostgres({ dataDir, port, log: silent });
      expect(await query(shared.url, 'select count(*)::int as n from kept')).toEqual([{ n: 1 }]);
      await shared.stop();
      expect(isAlive(serverPid)).toBe(true);
    } finally {
      // Like the bot, the child stops its server on SIGTERM.
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    await waitFor(() => !isAlive(serverPid));
  });

  it('stops a server orphaned by a killed node process, then starts its own', async () => {
    const { child, serverPid: orphan } = await startInChild();
    child.kill('SIGKILL'); // no exit hooks run: the server lives on, re-parented
    await new Promise((r) => child.once('exit', r));
    expect(isAlive(orphan)).toBe(true);

    const { log, messages } = captureLogger();
    running = await startEmbeddedPostgres({ dataDir, port, log });
    expect(messages).toContain(
      `Stopping the embedded PostgreSQL (PID ${orphan}) left running by a previous run that did not exit cleanly`,
    );
    expect(isAlive(orphan)).toBe(false);
    expect(await query(running.url, 'select count(*)::int as n from kept')).toEqual([{ n: 1 }]);
    await running.stop();
    running = undefined;
  });

  it('resets the password when pg.password was lost', async () => {
    fs.rmSync(path.join(root, 'pg.password'));
    running = await startEmbeddedPostgres({ dataDir, port, log: silent });
    expect(await query(running.url, 'select count(*)::int as n from kept')).toEqual([{ n: 1 }]);
    await running.stop();
    running = undefined;
  });

  it("explains an early exit with PostgreSQL's last output", async () => {
    const conf = path.join(dataDir, 'postgresql.conf');
    const original = fs.readFileSync(conf);
    fs.appendFileSync(conf, '\nshared_buffers = lots\n');
    try {
      const error = await startEmbeddedPostgres({ dataDir, port, log: silent }).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(
        /^The embedded PostgreSQL in .* failed to start on port \d+: the server exited/,
      );
      expect((error as Error).message).toContain('invalid value for parameter "shared_buffers": "lots"');
    } finally {
      fs.writeFileSync(conf, original);
    }
    running = await startEmbeddedPostgres({ dataDir, port, log: silent });
    await running.stop();
    running = undefined;
  });

  it('names EMBEDDED_PG_PORT when the port is taken by something else', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve, reject) => {
      blocker.once('error', reject);
      blocker.listen(port, '127.0.0.1', resolve);
    });
    try {
      await expect(startEmbeddedPostgres({ dataDir, port, log: silent })).rejects.toThrow(
        `Port ${port} on 127.0.0.1 is already in use by another program, so the embedded PostgreSQL cannot listen there: set EMBEDDED_PG_PORT`,
      );
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});
