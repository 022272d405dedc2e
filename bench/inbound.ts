// `npm run bench:inbound [-- --customers N]`: how many customer messages per second the bot takes in,
// and how long each waits for its reply to be stored, against this machine's PostgreSQL commit ceiling.
//
// Phases, in one run, on a fresh database and a unique QUEUE_PREFIX (no workers run: the replies
// stay pending in the outbox and their BullMQ jobs wait; both are cleaned up at the end):
//  1. ceiling: single-row insert commits/s with the bot's driver and pool size (and pgbench if on PATH);
//  2. closed loop: N customers walk the fault dialogue (8 messages each) at once, in process,
//     through InboundPipeline.receiveAndProcess, each sending its next message when the last is done;
//     2b. the same with --threads pipelines, each in a worker thread with its own runtime and a share
//     of the pool (as that many bot processes would run), to see whether a second core helps;
//  3. open loop: messages arrive on a fixed schedule at half the ceiling (the goal), then at half the
//     closed-loop throughput; latency counts from the scheduled arrival, so a backlog shows; each run
//     also prints the CPU of Node and PostgreSQL a message, how busy the event loop was and V8's
//     garbage-collection pauses (they stop every batch in flight);
//  4. HTTP: a small sample through POST /api/web/messages on loopback (rate limited to 120/min per IP).
//
// Latency of a message = from handing it to the pipeline to the commit of the transaction that wrote
// its replies to the outbox (see bench/lib/timed-pipeline.ts); it is split into the wait for a
// transaction and the transaction, and the transaction into its phases (BEGIN, the first round trip,
// the handlers with their own round trips, the held-back writes with the COMMIT), through the
// pipeline's hooks. Figures are printed, never asserted.

import { Worker } from 'node:worker_threads';
import { and, count, eq, isNotNull, isNull, like } from 'drizzle-orm';
import postgres from 'postgres';
import { buildServer } from '../src/bot/server.ts';
import { cases, inboundMessages } from '../src/db/schema/index.ts';
import { benchArgs } from './lib/args.ts';
import {
  type Ceiling,
  checkpoint,
  createCeilingTable,
  insertCeiling,
  pgbenchCeiling,
} from './lib/ceiling.ts';
import { type Customer, customerOf, DIALOGUE, messageOf, STEPS } from './lib/fault-dialogue.ts';
import type { ThreadData, ThreadResult } from './lib/inbound-thread.ts';
import { startProfile } from './lib/profile.ts';
import { finalJson, fmtLatency, fmtRate, say } from './lib/report.ts';
import { benchRedisUrl, sleep, startBench } from './lib/setup.ts';
import { countStatements } from './lib/statements.ts';
import { round, rounded, type Summary, summarize } from './lib/stats.ts';
import {
  type CpuUse,
  countersBetween,
  cpuBetween,
  cpuFigures,
  dbCounters,
  fmtCpu,
  fmtMainThread,
  hottestTables,
  type MainThreadUse,
  sampleCpu,
  tableCounters,
  watchMainThread,
} from './lib/system.ts';
import { type MessageTiming, TimedPipeline } from './lib/timed-pipeline.ts';

const args = benchArgs('usage: npm run bench:inbound -- [options]', {
  customers: { type: 'number', default: 2000, help: 'customers in the closed-loop run, 8 messages each' },
  pool: {
    type: 'number',
    default: 10,
    help: 'DATABASE_POOL_SIZE of the bot, and connections of the ceiling',
  },
  'ceiling-seconds': { type: 'number', default: 10, help: 'length of each ceiling measurement' },
  'paced-seconds': { type: 'number', default: 8, help: 'length of each open-loop run (0: skip them)' },
  'paced-warmup': {
    type: 'number',
    default: 3,
    help: 'seconds at the same rate before each open-loop run, not measured (0: none)',
  },
  'no-vacuum': {
    type: 'boolean',
    default: false,
    help: 'skip the VACUUM (ANALYZE) of the bench database before each open-loop run',
  },
  'max-in-flight': {
    type: 'number',
    default: 2000,
    help: 'open loop: stop arrivals (saturated) when this many messages are waiting',
  },
  'http-customers': {
    type: 'number',
    default: 200,
    help: 'customers through the HTTP API (8 POSTs each; the bench lifts the per-address send limit)',
  },
  warmup: { type: 'number', default: 30, help: 'customers walked through first, not measured' },
  top: { type: 'number', default: 8, help: 'statements listed by how often they were sent' },
  threads: {
    type: 'number',
    default: 2,
    help: 'also run the closed loop with this many pipelines, each in a worker thread with its own runtime and 1/N of the pool, as that many bot processes would (0: skip)',
  },
  'no-pgbench': { type: 'boolean', default: false, help: 'skip the pgbench ceiling' },
  profile: {
    type: 'boolean',
    default: false,
    help: 'write a CPU profile of the in-process closed loop to bench-inbound.cpuprofile (slows the run)',
  },
});

/** Per-message figures of a phase. `from` is when the message counts as received. */
class Recorder {
  readonly committed: number[] = [];
  readonly resolved: number[] = [];
  readonly queued: number[] = [];
  readonly transaction: number[] = [];
  /** The transaction by phase: BEGIN, the first round trip, the handlers, held-back writes + COMMIT. */
  readonly phases = {
    begin: [] as number[],
    firstRound: [] as number[],
    handling: [] as number[],
    commit: [] as number[],
  };
  readonly kick: number[] = [];
  /** When each message's replies were committed (performance.now()), for throughput over time. */
  readonly at: number[] = [];
  failed = 0;
  record(t: MessageTiming | undefined, from?: number) {
    if (!t || t.started === undefined || t.committed === undefined || t.done === undefined) {
      this.failed++;
      return;
    }
    const start = from ?? t.handed;
    this.committed.push(t.committed - start);
    this.at.push(t.committed);
    this.resolved.push(t.done - start);
    this.queued.push(t.started - start);
    this.transaction.push(t.committed - t.started);
    // A batch that failed and was received message by message has no phases.
    if (t.begun !== undefined && t.read !== undefined && t.handled !== undefined) {
      this.phases.begin.push(t.begun - t.started);
      this.phases.firstRound.push(t.read - t.begun);
      this.phases.handling.push(t.handled - t.read);
      this.phases.commit.push(t.committed - t.handled);
    }
    this.kick.push(t.done - t.committed);
  }
  get count() {
    return this.committed.length;
  }
  breakdown() {
    const p = (xs: number[]) => {
      const s = summarize(xs);
      return { p50: round(s.p50), p99: round(s.p99) };
    };
    return {
      queued: p(this.queued),
      transaction: p(this.transaction),
      phases: {
        begin: p(this.phases.begin),
        firstRound: p(this.phases.firstRound),
        handling: p(this.phases.handling),
        commit: p(this.phases.commit),
      },
      kick: p(this.kick),
    };
  }
}

const started = performance.now();
const bench = await startBench('in', { poolSize: args.pool });
const { rt, db } = bench;
const pipeline = new TimedPipeline(rt);
bench.onCleanup(() => pipeline.drain());
const stats = postgres(db.url, { max: 1, onnotice: () => {} });
bench.onCleanup(() => stats.end({ timeout: 1 }));
let exitCode = 0;

try {
  say(`bench:inbound — database ${db.name}, queue prefix ${bench.prefix}, pool ${args.pool}`);
  say(
    `machine: ${(await stats`select version()`)[0]!.version.split(' ').slice(0, 2).join(' ')}, Node ${process.version}`,
  );

  // 1. The ceiling.
  await createCeilingTable(db.url);
  const note = await checkpoint(stats);
  if (note) say(note);
  const ceiling: Ceiling = await insertCeiling(db.url, {
    connections: args.pool,
    seconds: args['ceiling-seconds'],
  });
  const cpuCeiling = ceiling.cpu;
  say(
    `ceiling (postgres.js, ${ceiling.connections} connections, ${ceiling.seconds.toFixed(1)} s): ` +
      `${fmtRate(ceiling.commitsPerSec, 'commits')}; one insert+commit ${fmtLatency(ceiling.latency)}`,
  );
  say(`  CPU meanwhile: ${fmtCpu(cpuCeiling)}`);
  const pgbench = args['no-pgbench']
    ? { error: 'skipped (--no-pgbench)' }
    : await checkpoint(stats).then(() =>
        pgbenchCeiling(db.url, { connections: args.pool, seconds: args['ceiling-seconds'] }),
      );
  say(
    'tps' in pgbench
      ? `ceiling (pgbench, same load): ${fmtRate(pgbench.tps, 'commits')}, latency average ${pgbench.latencyMs} ms`
      : `ceiling (pgbench): ${pgbench.error}`,
  );

  // 2. Warm-up (JIT, prepared statements, pool connections), then the closed loop.
  const warm = new Recorder();
  await closedLoop('w', args.warmup, warm);
  await sleep(1200); // let the backends flush their statistics before the counters are read
  await checkpoint(stats);
  const countersBefore = await dbCounters(stats, db.name);
  const tablesBefore = await tableCounters(stats);
  const cpuBefore = await sampleCpu();
  const closed = new Recorder();
  const statements = countStatements(rt.database.sql);
  const profiling = args.profile ? await startProfile() : null;
  const t0 = performance.now();
  await closedLoop('cl', args.customers, closed);
  const closedSeconds = (performance.now() - t0) / 1000;
  if (profiling) await profiling.stop('bench-inbound.cpuprofile');
  const sent = statements.stop();
  const quarters = byQuarter(closed.at, t0, performance.now());
  const cpu = cpuBetween(cpuBefore, await sampleCpu());
  await sleep(1200);
  const counters = countersBetween(countersBefore, await dbCounters(stats, db.name));
  const hot = hottestTables(tablesBefore, await tableCounters(stats), Math.max(1, closed.count));
  const messages = closed.count;
  const msgsPerSec = messages / closedSeconds;
  const latency = summarize(closed.committed);
  const resolved = summarize(closed.resolved);
  const check = await verify('cl', args.customers);
  const per = (x: number) => round(x / Math.max(1, messages + closed.failed), 2);
  say();
  say(
    `closed loop: ${args.customers} customers × ${STEPS} messages at once, in process: ` +
      `${messages} messages in ${closedSeconds.toFixed(1)} s = ${fmtRate(msgsPerSec, 'messages')}` +
      (closed.failed ? `, ${closed.failed} FAILED` : ''),
  );
  say(`  received → replies committed in outbox: ${fmtLatency(latency)}`);
  say(`  received → receiveAndProcess resolved (+ wake-up): ${fmtLatency(resolved)}`);
  const bd = closed.breakdown();
  say(
    `  where a message's time goes (p50 / p99 ms): waiting for a transaction ${bd.queued.p50} / ${bd.queued.p99}, ` +
      `in its transaction (stored, handled, committed) ${bd.transaction.p50} / ${bd.transaction.p99}, ` +
      `then the wake-up (BullMQ) ${bd.kick.p50} / ${bd.kick.p99}`,
  );
  say(`  its transaction by phase (p50 / p99 ms): ${fmtPhases(bd.phases)}`);
  say(
    `  per message in PostgreSQL: ${per(counters.commits)} commits, ${per(counters.rollbacks)} rollbacks, ` +
      `${per(counters.inserted)} rows inserted, ${per(counters.updated)} updated, ${per(counters.fetched)} fetched`,
  );
  say(
    `  statements sent per message: ${per(sent.total)}; most sent: ${sent
      .top(args.top)
      .map(([text, n]) => `${per(n)}× ${text.slice(0, 48)}`)
      .join(' | ')}`,
  );
  say(
    `  throughput by quarter of the run: ${quarters.map((q) => q.toFixed(0)).join(', ')} messages/s ` +
      '(a fall: more work per message as cases accumulate; the last quarter also holds the stragglers)',
  );
  say(
    `  tables read most per message: ${hot
      .map(
        (h) =>
          `${h.table} (${h.seqScans.toFixed(2)} seq scans reading ${h.seqRowsRead.toFixed(0)} rows, ` +
          `${h.idxScans.toFixed(1)} index scans fetching ${h.idxRowsFetched.toFixed(0)})`,
      )
      .join('; ')}`,
  );
  say(`  CPU: ${fmtCpu(cpu, msgsPerSec)}`);
  say(
    `  check: ${check.cases}/${args.customers} cases opened, ${check.unprocessed} messages unprocessed, ${check.errors} with errors`,
  );
  if (check.cases !== args.customers || check.unprocessed > 0 || closed.failed > 0) exitCode = 1;
  const ratio = msgsPerSec / ceiling.commitsPerSec;
  const ratioPgbench = 'tps' in pgbench ? msgsPerSec / pgbench.tps : null;
  say(
    `  ratio messages/s ÷ ceiling: ${ratio.toFixed(3)} (goal ≥ 0.5)` +
      (ratioPgbench === null ? '' : `; ÷ pgbench's ceiling: ${ratioPgbench.toFixed(3)}`),
  );

  // 2b. The same closed loop split over several pipelines (one per worker thread).
  let threaded: Awaited<ReturnType<typeof inThreads>> | null = null;
  if (args.threads > 0) {
    threaded = await inThreads(args.threads, args.customers);
    say();
    say(
      `closed loop in ${args.threads} pipelines (worker threads, ${threaded.poolEach} connections each): ` +
        `${threaded.messages} messages in ${threaded.seconds.toFixed(1)} s = ${fmtRate(threaded.msgsPerSec, 'messages')}` +
        (threaded.failed ? `, ${threaded.failed} FAILED` : '') +
        `; ratio ${(threaded.msgsPerSec / ceiling.commitsPerSec).toFixed(3)}`,
    );
    say(`  received → replies committed in outbox: ${fmtLatency(threaded.latency)}`);
    say(`  CPU: ${fmtCpu(threaded.cpu, threaded.msgsPerSec)}`);
    const thCheck = await verify('th', args.customers);
    say(
      `  check: ${thCheck.cases}/${args.customers} cases opened, ${thCheck.unprocessed} messages unprocessed`,
    );
    if (threaded.failed > 0 || thCheck.cases !== args.customers || thCheck.unprocessed > 0) exitCode = 1;
  }

  // 3. Open loop: at half the ceiling (the goal), then at half what the closed loop reached.
  const paced: PacedResult[] = [];
  if (args['paced-seconds'] > 0) {
    say();
    const [autovacuum] = await stats<{ autovacuum: string }[]>`show autovacuum`;
    say(
      'before each open-loop run, as in a bot that has been running a while: ' +
        (args['paced-warmup'] > 0
          ? `${args['paced-warmup']} s at its rate, not measured (the closed loop's few large transactions leave the code of small ones to be compiled); `
          : '') +
        (args['no-vacuum']
          ? ''
          : `VACUUM (ANALYZE) of the bench database, as autovacuum would have done (it is ${autovacuum?.autovacuum ?? 'unknown'} on this server); `) +
        'a checkpoint',
    );
    for (const [label, rate, tag] of [
      ['half-ceiling', ceiling.commitsPerSec / 2, 'pc'],
      ['half-throughput', msgsPerSec / 2, 'pt'],
    ] as const) {
      if (args['paced-warmup'] > 0) await openLoop(`${label} warm-up`, rate, args['paced-warmup'], `${tag}w`);
      if (!args['no-vacuum']) await stats`vacuum (analyze)`;
      await checkpoint(stats);
      const r = await openLoop(label, rate, args['paced-seconds'], tag);
      paced.push(r);
      say(
        `open loop at ${label} (${rate.toFixed(0)} messages/s offered for ${args['paced-seconds']} s): ` +
          `${r.completed} done at ${fmtRate(r.achievedRate, 'messages')}` +
          (r.saturated
            ? `; SATURATED after ${r.saturatedAfterS?.toFixed(1)} s (${args['max-in-flight']} waiting), arrivals stopped`
            : ''),
      );
      say(`  scheduled arrival → replies committed: ${fmtLatency(r.latency)}`);
      say(
        `  p50 / p99 ms: waiting for a transaction ${r.breakdown.queued.p50} / ${r.breakdown.queued.p99}, ` +
          `in its transaction ${r.breakdown.transaction.p50} / ${r.breakdown.transaction.p99}, ` +
          `wake-up ${r.breakdown.kick.p50} / ${r.breakdown.kick.p99}`,
      );
      say(`  the transaction by phase (p50 / p99 ms): ${fmtPhases(r.breakdown.phases)}`);
      say(`  CPU: ${fmtCpu(r.cpu, r.achievedRate)}`);
      say(`  main thread: ${fmtMainThread(r.mainThread)}`);
    }
  }

  // 4. The HTTP API on loopback.
  let http: HttpResult | null = null;
  if (args['http-customers'] > 0) {
    http = await overHttp(args['http-customers']);
    say();
    say(
      `HTTP (POST /api/web/messages on loopback, ${args['http-customers']} customers at once): ` +
        `${http.messages} messages in ${http.seconds.toFixed(1)} s = ${fmtRate(http.msgsPerSec, 'messages')}` +
        (http.rateLimited ? `, ${http.rateLimited} refused with 429 (rate limit 120 POSTs/min per IP)` : ''),
    );
    say(`  POST sent → 202 received: ${fmtLatency(http.accepted)}`);
    say(`  POST sent → replies committed: ${fmtLatency(http.latency)}`);
  }

  const half = paced.find((p) => p.label === 'half-ceiling');
  say();
  say(
    `goals: ratio ${ratio.toFixed(3)} ≥ 0.5: ${ratio >= 0.5 ? 'met' : 'NOT met'}; ` +
      `p99 at half the ceiling ${half ? `${half.latency.p99.toFixed(1)} ms` : 'n/a'} ≤ 50 ms: ` +
      `${half && !half.saturated && half.latency.p99 <= 50 ? 'met' : 'NOT met'}`,
  );
  finalJson('inbound', {
    at: new Date().toISOString(),
    customers: args.customers,
    pool: args.pool,
    messages,
    failed: closed.failed,
    seconds: round(closedSeconds, 2),
    msgsPerSec: round(msgsPerSec),
    msgsPerSecByQuarter: quarters.map((q) => round(q)),
    latencyMs: rounded(latency),
    resolvedMs: rounded(resolved),
    breakdownMs: bd,
    perMessage: {
      commits: per(counters.commits),
      rollbacks: per(counters.rollbacks),
      inserted: per(counters.inserted),
      updated: per(counters.updated),
      fetched: per(counters.fetched),
      statements: per(sent.total),
      topStatements: sent.top(8).map(([text, n]) => ({ text, perMessage: per(n) })),
      hotTables: hot.map((h) => ({
        table: h.table,
        seqScans: round(h.seqScans, 2),
        seqRowsRead: round(h.seqRowsRead),
        idxScans: round(h.idxScans, 2),
        idxRowsFetched: round(h.idxRowsFetched),
      })),
    },
    cpu: { ...cpuFigures(cpu), cores: cpu.cores },
    ceiling: {
      commitsPerSec: round(ceiling.commitsPerSec),
      connections: ceiling.connections,
      seconds: round(ceiling.seconds, 1),
      commitMs: rounded(ceiling.latency, 2),
      nodeCores: round(cpuCeiling.nodeCores, 2),
      pgbenchTps: 'tps' in pgbench ? round(pgbench.tps) : null,
    },
    ratio: round(ratio, 3),
    ratioPgbench: ratioPgbench === null ? null : round(ratioPgbench, 3),
    threads: threaded && {
      pipelines: args.threads,
      poolEach: threaded.poolEach,
      messages: threaded.messages,
      failed: threaded.failed,
      seconds: round(threaded.seconds, 2),
      msgsPerSec: round(threaded.msgsPerSec),
      ratio: round(threaded.msgsPerSec / ceiling.commitsPerSec, 3),
      latencyMs: rounded(threaded.latency),
      cpu: cpuFigures(threaded.cpu),
    },
    paced: paced.map((p) => ({
      label: p.label,
      offeredPerSec: round(p.offeredRate),
      achievedPerSec: round(p.achievedRate),
      completed: p.completed,
      saturated: p.saturated,
      latencyMs: rounded(p.latency),
      breakdownMs: p.breakdown,
      cpu: cpuFigures(p.cpu),
      mainThread: {
        eventLoopBusy: round(p.mainThread.eventLoopBusy, 2),
        gcPausesPerSec: round(p.mainThread.gc.perSec, 1),
        gcMeanMs: round(p.mainThread.gc.meanMs, 1),
        gcMaxMs: round(p.mainThread.gc.maxMs, 1),
        gcShare: round(p.mainThread.gc.share, 3),
      },
    })),
    http: http && {
      customers: args['http-customers'],
      messages: http.messages,
      msgsPerSec: round(http.msgsPerSec),
      rateLimited: http.rateLimited,
      acceptedMs: rounded(http.accepted),
      latencyMs: rounded(http.latency),
    },
    goals: {
      ratioAtLeastHalf: ratio >= 0.5,
      p99At50PctCeilingWithin50ms: Boolean(half && !half.saturated && half.latency.p99 <= 50),
    },
    check,
    durationS: round((performance.now() - started) / 1000, 1),
  });
} catch (err) {
  console.error(`bench:inbound failed: ${(err as Error).stack ?? String(err)}`);
  exitCode = 1;
} finally {
  await bench.cleanup();
}
process.exit(exitCode);

/** A transaction's phases, as the report prints them. */
function fmtPhases(ph: ReturnType<Recorder['breakdown']>['phases']): string {
  return (
    `BEGIN ${ph.begin.p50} / ${ph.begin.p99}, first round trip (stored, read) ${ph.firstRound.p50} / ${ph.firstRound.p99}, ` +
    `handling (and its round trips) ${ph.handling.p50} / ${ph.handling.p99}, ` +
    `held-back writes + COMMIT ${ph.commit.p50} / ${ph.commit.p99}`
  );
}

/** Completions per second in each quarter of [from, to]. */
function byQuarter(at: number[], from: number, to: number): number[] {
  const q = (to - from) / 4;
  const counts = [0, 0, 0, 0];
  for (const t of at) counts[Math.min(3, Math.max(0, Math.floor((t - from) / q)))]!++;
  return counts.map((n) => n / (q / 1000));
}

/** Every customer walks the whole dialogue; each sends its next message once the last is done. */
async function closedLoop(phase: string, customers: number, rec: Recorder): Promise<void> {
  await Promise.all(
    Array.from({ length: customers }, async (_, n) => {
      const c = customerOf(phase, n);
      for (; c.step < STEPS; c.step++) {
        const msg = messageOf(c);
        await pipeline.receiveAndProcess(msg);
        rec.record(pipeline.take(msg.channelMessageId));
      }
    }),
  );
}

/**
 * The closed loop over `threads` pipelines, each in a worker thread with its own runtime (pool,
 * Redis connection, policy) and its share of the customers, as separate bot processes would run.
 * The pool is split so that all of them together hold the ceiling's connections.
 */
async function inThreads(threads: number, customers: number) {
  const poolEach = Math.max(2, Math.ceil(args.pool / threads));
  const script = new URL('./lib/inbound-thread.ts', import.meta.url).href;
  const workers = Array.from({ length: threads }, (_, index) => {
    const data: ThreadData = {
      databaseUrl: db.url,
      redisUrl: benchRedisUrl(),
      prefix: bench.prefix,
      poolSize: poolEach,
      phase: 'th',
      customers,
      index,
      of: threads,
      env: {
        INBOUND_BATCH_MAX: process.env.INBOUND_BATCH_MAX,
        INBOUND_BATCH_CONCURRENCY: process.env.INBOUND_BATCH_CONCURRENCY,
      },
    };
    // tsx's loader is registered inside the thread before the TypeScript module is imported.
    return new Worker(
      `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(script)}); })`,
      { eval: true, workerData: data },
    );
  });
  const failedToStart = (w: Worker) =>
    new Promise<never>((_, reject) => w.once('error', (err) => reject(err)));
  const next = (w: Worker) => Promise.race([new Promise((r) => w.once('message', r)), failedToStart(w)]);
  await Promise.all(workers.map(next));
  const done = workers.map((w) => next(w) as Promise<ThreadResult>);
  const cpuBefore = await sampleCpu();
  for (const w of workers) w.postMessage('go');
  const results = await Promise.all(done);
  const cpu = cpuBetween(cpuBefore, await sampleCpu());
  // Their work is done and measured; a thread's runtime may hold sockets open, so end it here.
  await Promise.all(workers.map((w) => w.terminate()));
  const seconds =
    (Math.max(...results.map((r) => r.endedAt)) - Math.min(...results.map((r) => r.startedAt))) / 1000;
  const latencies = results.flatMap((r) => r.latencies);
  return {
    poolEach,
    messages: latencies.length,
    failed: results.reduce((n, r) => n + r.failed, 0),
    seconds,
    msgsPerSec: latencies.length / seconds,
    latency: summarize(latencies),
    cpu,
  };
}

interface PacedResult {
  label: string;
  offeredRate: number;
  achievedRate: number;
  completed: number;
  saturated: boolean;
  saturatedAfterS: number | null;
  latency: Summary;
  breakdown: ReturnType<Recorder['breakdown']>;
  /** Over the run, from its first arrival to its last commit. */
  cpu: CpuUse;
  mainThread: MainThreadUse;
}

/**
 * Messages arrive every 1/rate s whatever happens to the earlier ones. Each arrival is the next
 * message of a customer whose previous message is done (a new customer when none is free), so
 * dialogues stay in order. Latency counts from the scheduled arrival time. Arrivals stop when
 * `max-in-flight` messages wait (the run is then saturated and its latency says so). `tag` names
 * the run's customers (each run needs its own: a message id seen before is a duplicate).
 */
async function openLoop(label: string, rate: number, seconds: number, tag: string): Promise<PacedResult> {
  const rec = new Recorder();
  const free: Customer[] = [];
  const waiting = new Set<Promise<void>>();
  let next = 0;
  let saturatedAt: number | null = null;
  const total = Math.floor(rate * seconds);
  const interval = 1000 / rate;
  const cpuBefore = await sampleCpu();
  const watch = watchMainThread();
  const start = performance.now() + 5;
  let i = 0;
  while (i < total) {
    const now = performance.now();
    while (i < total && start + i * interval <= now) {
      if (waiting.size >= args['max-in-flight']) {
        saturatedAt = now;
        break;
      }
      const scheduled = start + i * interval;
      i++;
      const c = free.pop() ?? customerOf(tag, next++);
      const msg = messageOf(c);
      const p = pipeline.receiveAndProcess(msg).then(() => {
        rec.record(pipeline.take(msg.channelMessageId), scheduled);
        c.step++;
        if (c.step < STEPS) free.push(c);
        waiting.delete(p);
      });
      waiting.add(p);
    }
    if (saturatedAt !== null) break;
    await sleep(1);
  }
  const issuedFor = (performance.now() - start) / 1000;
  await Promise.all(waiting);
  const elapsed = (performance.now() - start) / 1000;
  const mainThread = watch.stop();
  const cpu = cpuBetween(cpuBefore, await sampleCpu());
  return {
    label,
    offeredRate: rate,
    achievedRate: rec.count / Math.max(elapsed, issuedFor),
    completed: rec.count,
    saturated: saturatedAt !== null,
    saturatedAfterS: saturatedAt === null ? null : (saturatedAt - start) / 1000,
    latency: summarize(rec.committed),
    breakdown: rec.breakdown(),
    cpu,
    mainThread,
  };
}

interface HttpResult {
  messages: number;
  seconds: number;
  msgsPerSec: number;
  rateLimited: number;
  accepted: Summary;
  latency: Summary;
}

/** The same dialogue through the web chat's JSON API, a real HTTP server on 127.0.0.1. */
async function overHttp(customers: number): Promise<HttpResult> {
  const app = await buildServer(rt, pipeline);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  const accepted: number[] = [];
  const latency: number[] = [];
  let rateLimited = 0;
  let failed = 0;
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: customers }, async (_, n) => {
        const c = customerOf('h', n);
        for (; c.step < STEPS; c.step++) {
          const body = { chatId: c.chatId, userId: c.id, messageId: `s${c.step}`, ...DIALOGUE[c.step]!(n) };
          const sent = performance.now();
          const res = await fetch(`http://127.0.0.1:${port}/api/web/messages`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
          await res.arrayBuffer();
          if (res.status === 429) {
            rateLimited++;
            return;
          }
          if (res.status !== 202) {
            failed++;
            console.error(`HTTP ${res.status} for ${c.chatId} step ${c.step}`);
            return;
          }
          accepted.push(performance.now() - sent);
          const t = await pipeline.waitFor(`${c.chatId}:s${c.step}`);
          if (t.committed === undefined) failed++;
          else latency.push(t.committed - sent);
        }
      }),
    );
  } finally {
    await app.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  if (failed) exitCode = 1;
  return {
    messages: latency.length,
    seconds,
    msgsPerSec: latency.length / seconds,
    rateLimited,
    accepted: summarize(accepted),
    latency: summarize(latency),
  };
}

/** Did every customer of the phase get a case, and was every message processed without error? */
async function verify(phase: string, customers: number) {
  const d = rt.database.db;
  const [opened] = await d
    .select({ n: count() })
    .from(cases)
    .where(like(cases.chatId, `c-${phase}%`));
  const [unprocessed] = await d
    .select({ n: count() })
    .from(inboundMessages)
    .where(and(like(inboundMessages.chatId, `c-${phase}%`), isNull(inboundMessages.processedAt)));
  const [errors] = await d
    .select({ n: count() })
    .from(inboundMessages)
    .where(and(eq(inboundMessages.channel, 'web'), isNotNull(inboundMessages.error)));
  return {
    customers,
    cases: opened?.n ?? 0,
    unprocessed: unprocessed?.n ?? 0,
    errors: errors?.n ?? 0,
  };
}
