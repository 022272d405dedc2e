import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type postgres from 'postgres';
import { connectDatabase } from '../../src/db/client.ts';
import { type Summary, summarize } from './stats.ts';
import { cpuBetween, sampleCpu } from './system.ts';

const run = promisify(execFile);

export interface Ceiling {
  /** Committed single-row inserts per second, all connections together. */
  commitsPerSec: number;
  commits: number;
  seconds: number;
  connections: number;
  /** Time of one insert-and-commit as the client saw it (ms). */
  latency: Summary;
  /** CPU meanwhile (sampled before the connections close, so their backends still count). */
  cpu: ReturnType<typeof cpuBetween>;
}

/**
 * Writes out the dirty buffers now (CHECKPOINT), so that a measurement does not run during the
 * checkpoint the bench's own CREATE DATABASE set off: commits are then markedly slower (more WAL
 * per commit, the disk busy writing pages), which would make a ceiling measured first read low.
 * Needs superuser (or pg_checkpoint); without it the phase runs as it is and says so.
 */
export async function checkpoint(sql: postgres.Sql): Promise<string | null> {
  try {
    await sql`checkpoint`;
    return null;
  } catch (err) {
    return `checkpoint not allowed (${(err as Error).message}); figures may include one`;
  }
}

/** The table both ceilings insert into; created in the bench's own database. */
export async function createCeilingTable(url: string): Promise<void> {
  const database = connectDatabase(url, { max: 1 });
  try {
    await database.sql`create table if not exists bench_ceiling (
      id bigint generated always as identity primary key, v integer not null)`;
  } finally {
    await database.close();
  }
}

/**
 * The machine's single-row commit ceiling, measured the way the bot talks to PostgreSQL: the same
 * driver and pool settings (`connectDatabase`, postgres.js, prepared statements), `connections`
 * loops each doing `insert into bench_ceiling(v) values ($1)` autocommit, one at a time, for `seconds`.
 */
export async function insertCeiling(
  url: string,
  opts: { connections: number; seconds: number },
): Promise<Ceiling> {
  const database = connectDatabase(url, { max: opts.connections });
  const { sql } = database;
  try {
    // Open every connection and prepare the statement before the clock starts.
    await Promise.all(
      Array.from({ length: opts.connections }, (_, i) => sql`insert into bench_ceiling(v) values (${i})`),
    );
    const latencies: number[] = [];
    const cpuBefore = await sampleCpu();
    const start = performance.now();
    const until = start + opts.seconds * 1000;
    await Promise.all(
      Array.from({ length: opts.connections }, async (_, c) => {
        let v = c;
        for (;;) {
          const t0 = performance.now();
          if (t0 >= until) return;
          await sql`insert into bench_ceiling(v) values (${v})`;
          latencies.push(performance.now() - t0);
          v += opts.connections;
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    const cpu = cpuBetween(cpuBefore, await sampleCpu());
    return {
      cpu,
      commitsPerSec: latencies.length / seconds,
      commits: latencies.length,
      seconds,
      connections: opts.connections,
      latency: summarize(latencies),
    };
  } finally {
    await sql`truncate bench_ceiling`.catch(() => {});
    await database.close();
  }
}

/**
 * The same load from `pgbench` (C, libpq), when it is on PATH: tells whether the ceiling above is
 * PostgreSQL's or the driver's. Null when pgbench is missing or fails.
 */
export async function pgbenchCeiling(
  url: string,
  opts: { connections: number; seconds: number },
): Promise<{ tps: number; latencyMs: number | null; output: string } | { error: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'gsb-pgbench-'));
  try {
    const script = join(dir, 'insert.sql');
    await writeFile(script, '\\set v random(1, 1000000)\ninsert into bench_ceiling(v) values (:v);\n');
    const { stdout } = await run(
      'pgbench',
      [
        '-n',
        '-M',
        'prepared',
        '-c',
        String(opts.connections),
        '-j',
        String(Math.min(opts.connections, 2)),
        '-T',
        String(Math.max(1, Math.round(opts.seconds))),
        '-f',
        script,
        url,
      ],
      { timeout: (opts.seconds + 30) * 1000 },
    );
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(stdout)?.[1]);
    const latency = /latency average = ([\d.]+) ms/.exec(stdout)?.[1];
    if (!Number.isFinite(tps)) return { error: `could not read pgbench output: ${stdout.slice(-300)}` };
    return { tps, latencyMs: latency ? Number(latency) : null, output: stdout };
  } catch (err) {
    const e = err as { code?: string; message: string };
    return { error: e.code === 'ENOENT' ? 'pgbench not on PATH' : e.message.split('\n')[0]! };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
