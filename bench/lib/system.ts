import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import type postgres from 'postgres';
import { round } from './stats.ts';

/**
 * Where the CPU went during a phase: this Node process, all PostgreSQL processes (every backend on
 * the machine, so other users of a shared server count too), and the whole machine. Linux /proc only;
 * elsewhere the PostgreSQL and machine figures are null.
 */
export interface CpuSample {
  at: number;
  node: NodeJS.CpuUsage;
  /** CPU ticks of each PostgreSQL process by pid (a process that exits between two samples drops out). */
  postgresTicks: Map<string, number> | null;
  machine: { busy: number; total: number } | null;
}

const TICK_HZ = 100; // USER_HZ on Linux

export async function sampleCpu(): Promise<CpuSample> {
  return {
    at: performance.now(),
    node: process.cpuUsage(),
    postgresTicks: await postgresTicks().catch(() => null),
    machine: await machineTicks().catch(() => null),
  };
}

/** CPU use between two samples, in cores (1.0 = one core fully busy), and the machine's busy share. */
export function cpuBetween(a: CpuSample, b: CpuSample) {
  const wallS = (b.at - a.at) / 1000;
  const nodeS = (b.node.user - a.node.user + b.node.system - a.node.system) / 1e6;
  let pgS: number | null = null;
  if (a.postgresTicks && b.postgresTicks) {
    let ticks = 0;
    for (const [pid, t] of b.postgresTicks) ticks += t - (a.postgresTicks.get(pid) ?? 0);
    pgS = ticks / TICK_HZ;
  }
  const busy =
    a.machine && b.machine
      ? (b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total || 1)
      : null;
  return {
    cores: os.availableParallelism(),
    nodeCores: nodeS / wallS,
    postgresCores: pgS === null ? null : pgS / wallS,
    machineBusy: busy,
  };
}

export type CpuUse = ReturnType<typeof cpuBetween>;

/** The figures of a CpuUse for a bench's final JSON line, rounded. */
export function cpuFigures(cpu: CpuUse) {
  return {
    nodeCores: round(cpu.nodeCores, 2),
    postgresCores: cpu.postgresCores === null ? null : round(cpu.postgresCores, 2),
    machineBusy: cpu.machineBusy === null ? null : round(cpu.machineBusy, 2),
  };
}

/** `node 0.96 cores, postgres 0.71 cores, machine 85% busy of 2 cores`; given `perSec` messages a second, also µs a message. */
export function fmtCpu(cpu: CpuUse, perSec?: number): string {
  const each = (cores: number) => (perSec ? ` (${Math.round((cores / perSec) * 1e6)} µs a message)` : '');
  return (
    `node ${cpu.nodeCores.toFixed(2)} cores${each(cpu.nodeCores)}, ` +
    `postgres ${cpu.postgresCores === null ? 'n/a' : `${cpu.postgresCores.toFixed(2)} cores${each(cpu.postgresCores)}`}, ` +
    `machine ${cpu.machineBusy === null ? 'n/a' : `${(cpu.machineBusy * 100).toFixed(0)}% busy`} of ${cpu.cores} cores`
  );
}

/** How the main thread spent a stretch: its event loop's busy share, and V8's pauses for garbage collection. */
export interface MainThreadUse {
  eventLoopBusy: number;
  gc: { pauses: number; perSec: number; meanMs: number; maxMs: number; share: number };
}

/**
 * Watches this thread's event loop and its garbage-collection pauses (every pause stops the
 * JavaScript of the thread, whatever it was doing) until `stop`.
 */
export function watchMainThread(): { stop(): MainThreadUse } {
  const start = performance.now();
  const elu = performance.eventLoopUtilization();
  const pauses: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) pauses.push(e.duration);
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    stop() {
      // Entries reach the callback asynchronously: those not delivered yet are taken here.
      for (const e of observer.takeRecords()) pauses.push(e.duration);
      observer.disconnect();
      const wallMs = performance.now() - start;
      const totalMs = pauses.reduce((s, d) => s + d, 0);
      return {
        eventLoopBusy: performance.eventLoopUtilization(elu).utilization,
        gc: {
          pauses: pauses.length,
          perSec: pauses.length / (wallMs / 1000),
          meanMs: pauses.length ? totalMs / pauses.length : 0,
          maxMs: pauses.length ? Math.max(...pauses) : 0,
          share: totalMs / wallMs,
        },
      };
    },
  };
}

/** `event loop 65% busy; GC: 13.8 pauses/s, 6.1 ms on average, longest 14.2 ms, 8% of the time`. */
export function fmtMainThread(m: MainThreadUse): string {
  return (
    `event loop ${(m.eventLoopBusy * 100).toFixed(0)}% busy; GC: ${m.gc.perSec.toFixed(1)} pauses/s, ` +
    `${m.gc.meanMs.toFixed(1)} ms on average, longest ${m.gc.maxMs.toFixed(1)} ms, ${(m.gc.share * 100).toFixed(0)}% of the time`
  );
}

async function postgresTicks(): Promise<Map<string, number>> {
  const ticks = new Map<string, number>();
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      if (!comm.startsWith('postgres') && !comm.startsWith('postmaster')) continue;
      const fields = stat.slice(close + 2).split(' ');
      ticks.set(pid, Number(fields[11]) + Number(fields[12])); // utime, stime
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks;
}

async function machineTicks(): Promise<{ busy: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((s, x) => s + x, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/** Counters of one database from pg_stat_database (flushed by backends about once a second). */
export interface DbCounters {
  commits: number;
  rollbacks: number;
  inserted: number;
  updated: number;
  fetched: number;
  returned: number;
  blocksRead: number;
  blocksHit: number;
}

export async function dbCounters(sql: postgres.Sql, datname: string): Promise<DbCounters> {
  await sql`select pg_stat_clear_snapshot()`;
  const [row] = await sql<
    { c: string; r: string; i: string; u: string; f: string; t: string; br: string; bh: string }[]
  >`select xact_commit as c, xact_rollback as r, tup_inserted as i, tup_updated as u, tup_fetched as f,
           tup_returned as t, blks_read as br, blks_hit as bh
      from pg_stat_database where datname = ${datname}`;
  return {
    commits: Number(row?.c ?? 0),
    rollbacks: Number(row?.r ?? 0),
    inserted: Number(row?.i ?? 0),
    updated: Number(row?.u ?? 0),
    fetched: Number(row?.f ?? 0),
    returned: Number(row?.t ?? 0),
    blocksRead: Number(row?.br ?? 0),
    blocksHit: Number(row?.bh ?? 0),
  };
}

export function countersBetween(a: DbCounters, b: DbCounters): DbCounters {
  return Object.fromEntries(
    Object.keys(a).map((k) => [k, b[k as keyof DbCounters] - a[k as keyof DbCounters]]),
  ) as unknown as DbCounters;
}

/** Per-table scan counters (pg_stat_user_tables), to see which tables a workload reads and how. */
export interface TableCounters {
  [table: string]: { seqScans: number; seqRowsRead: number; idxScans: number; idxRowsFetched: number };
}

export async function tableCounters(sql: postgres.Sql): Promise<TableCounters> {
  await sql`select pg_stat_clear_snapshot()`;
  const rows = await sql<{ t: string; ss: string; sr: string; is: string | null; ir: string | null }[]>`
    select relname as t, seq_scan as ss, seq_tup_read as sr, idx_scan as is, idx_tup_fetch as ir
      from pg_stat_user_tables`;
  return Object.fromEntries(
    rows.map((r) => [
      r.t,
      {
        seqScans: Number(r.ss),
        seqRowsRead: Number(r.sr),
        idxScans: Number(r.is ?? 0),
        idxRowsFetched: Number(r.ir ?? 0),
      },
    ]),
  );
}

/** The tables read most between two snapshots (rows read by sequential scans + fetched by index), per unit of work. */
export function hottestTables(a: TableCounters, b: TableCounters, per: number, top = 4) {
  return Object.entries(b)
    .map(([table, v]) => {
      const was = a[table] ?? { seqScans: 0, seqRowsRead: 0, idxScans: 0, idxRowsFetched: 0 };
      return {
        table,
        seqScans: (v.seqScans - was.seqScans) / per,
        seqRowsRead: (v.seqRowsRead - was.seqRowsRead) / per,
        idxScans: (v.idxScans - was.idxScans) / per,
        idxRowsFetched: (v.idxRowsFetched - was.idxRowsFetched) / per,
      };
    })
    .sort((x, y) => y.seqRowsRead + y.idxRowsFetched - (x.seqRowsRead + x.idxRowsFetched))
    .slice(0, top);
}
