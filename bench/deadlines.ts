// `npm run bench:deadlines [-- --million]`: what pending deadlines cost in Redis, how fast they are
// scheduled, and how late they fire through the real deadline worker.
//
// On a fresh database and a unique QUEUE_PREFIX, with the real workers and reconciler running
// (startWorkers with the web sender):
//  1. seeds K open repair cases with one SQL statement (a seed, not dialogues);
//  2. schedules K deadlines, written to PostgreSQL and then given their timers the way the bot does
//     after a commit (kicker.kick: a BullMQ timer only for wake-ups within TIMER_HORIZON_MS):
//     - most in bulk batches, due over the next hours (no timer: they wait in PostgreSQL),
//     - a sample one per transaction through startClock, as a dialogue starts a clock,
//     - a slice (default 1,000) due within the next minute, which get timers;
//  3. measures Redis before/after (INFO used_memory, and MEMORY USAGE of this run's keys);
//  4. waits for the slice to fire and measures lateness = breached_at − the wake-up time (next_at).
// Figures are printed, never asserted, except that nothing may fire early (exit code 1 if it does).
import { and, between, isNotNull } from 'drizzle-orm';
import { deadlines } from '../src/db/schema/index.ts';
import { computeDue } from '../src/flows/deadlines/calendar.ts';
import { ladderFor, startClock } from '../src/flows/deadlines/clocks.ts';
import { parseDuration } from '../src/flows/deadlines/duration.ts';
import { emptyEffects } from '../src/flows/engine/effects.ts';
import { reconcileOnce } from '../src/workers/maintenance.ts';
import { DEADLINE_QUEUE, TIMER_HORIZON_MS } from '../src/workers/queues.ts';
import { webSender } from '../src/workers/senders.ts';
import { startWorkers } from '../src/workers/start-workers.ts';
import { benchArgs } from './lib/args.ts';
import { finalJson, fmtBytes, fmtLatency, fmtRate, say } from './lib/report.ts';
import { measuringRedis, prefixMemory, sleep, startBench, usedMemory } from './lib/setup.ts';
import { round, rounded, summarize } from './lib/stats.ts';
import { cpuBetween, fmtCpu, sampleCpu } from './lib/system.ts';

const args = benchArgs('usage: npm run bench:deadlines -- [options]', {
  deadlines: { type: 'number', default: 100_000, help: 'pending deadlines in all' },
  million: { type: 'boolean', default: false, help: 'schedule 1,000,000 deadlines (overrides --deadlines)' },
  due: {
    type: 'number',
    default: 1000,
    help: 'of them due within the next minute: timers, fired by the worker',
  },
  'due-window': { type: 'number', default: 60, help: 'seconds over which the due slice falls due' },
  single: { type: 'number', default: 2000, help: 'of them scheduled one per transaction (startClock)' },
  batch: { type: 'number', default: 5000, help: 'rows per bulk insert' },
  pool: { type: 'number', default: 10, help: 'DATABASE_POOL_SIZE' },
  'drain-seconds': {
    type: 'number',
    default: 10,
    help: 'after the last firing, how long to let the outbox worker deliver the notifications',
  },
});

const K = args.million ? 1_000_000 : Math.floor(args.deadlines);
const DUE = Math.min(Math.floor(args.due), K);
const SINGLE = Math.min(Math.floor(args.single), K - DUE);
const BULK = K - DUE - SINGLE;
const WINDOW_MS = Math.max(10, args['due-window']) * 1000;
const LEAD_MS = 5000; // the first of the slice falls due this long after it is scheduled
const HOUR_MS = 3_600_000;

const started = performance.now();
const bench = await startBench('dl', { poolSize: args.pool });
const { rt, db } = bench;
const d = rt.database.db;
const redis = measuringRedis();
bench.onCleanup(() => redis.quit());
let exitCode = 0;

try {
  say(`bench:deadlines — database ${db.name}, queue prefix ${bench.prefix}, pool ${args.pool}`);
  say(
    `${K} deadlines: ${BULK} in bulk batches of ${args.batch}, ${SINGLE} one per transaction, ` +
      `${DUE} due within ${WINDOW_MS / 1000} s; timer horizon ${TIMER_HORIZON_MS / 60_000} min`,
  );

  // The real workers: deadline worker (concurrency 8), the web outbox worker, the reconciler (every 30 s).
  const workers = startWorkers(rt, { web: webSender });
  bench.onCleanup(() => workers.stop());
  const deadlineWorker = workers.workers.find((w) => w.name === DEADLINE_QUEUE)!;
  const picked = new Map<number, number>(); // deadline id → ms late when the job started
  const finished = new Map<number, number>(); // … when the job completed (committed and kicked)
  const statuses: Record<string, number> = {};
  deadlineWorker.on('active', (job) => {
    const { deadlineId, nextAtMs } = job.data as { deadlineId: number; nextAtMs: number };
    if (!picked.has(deadlineId)) picked.set(deadlineId, Date.now() - nextAtMs);
  });
  deadlineWorker.on('completed', (job, status: string) => {
    const { deadlineId, nextAtMs } = job.data as { deadlineId: number; nextAtMs: number };
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status === 'fired' && !finished.has(deadlineId)) finished.set(deadlineId, Date.now() - nextAtMs);
  });
  await deadlineWorker.waitUntilReady();
  await sleep(500);
  const memBefore = await usedMemory(redis);
  const keysBefore = await prefixMemory(redis, bench.prefix);

  // 1. Cases, seeded in one statement.
  let t = performance.now();
  const [range] = await rt.database.sql<{ lo: number; hi: number; n: number }[]>`
    with made as (
      insert into cases (kind, category, priority, state, team_id, channel, chat_id, customer_lang, details,
                         created_at, updated_at)
      select 'repair', 'nogas', 'P2', 'open', 'repair', 'web', 'c-dl' || g, 'zh', '{}'::jsonb, now(), now()
        from generate_series(1, ${K}) g
      returning id)
    select min(id)::int as lo, max(id)::int as hi, count(*)::int as n from made`;
  const seedSeconds = (performance.now() - t) / 1000;
  if (!range || range.n !== K || range.hi - range.lo + 1 !== K)
    throw new Error('case ids are not contiguous');
  say(`seeded ${K} cases in ${seedSeconds.toFixed(1)} s`);

  const ladder = ladderFor({ deps: rt.deps }, 'repair');
  const firstRung = ladder[0]!.after;
  const row = (caseId: number, dueAt: Date, now: Date) => ({
    caseId,
    kind: 'repair',
    dueAt,
    nextAt: computeDue(dueAt, firstRung, rt.deps.calendar),
    state: 'running',
    level: 0,
    startedAt: now,
  });

  // 2a. Bulk: due over the next hours, beyond the horizon and the bench's own length.
  const cpuBefore = await sampleCpu();
  let kickMs = 0;
  t = performance.now();
  {
    const now = new Date();
    const batches: number[] = [];
    for (let i = 0; i < BULK; i += args.batch) batches.push(i);
    const lanes = Math.max(1, Math.min(4, args.pool - 1));
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        for (let b = batches.shift(); b !== undefined; b = batches.shift()) {
          const values = [];
          for (let i = b; i < Math.min(b + args.batch, BULK); i++)
            values.push(
              row(range.lo + i, new Date(now.getTime() + HOUR_MS / 2 + Math.random() * 8 * HOUR_MS), now),
            );
          const written = await d
            .insert(deadlines)
            .values(values)
            .returning({ id: deadlines.id, nextAt: deadlines.nextAt });
          const k = performance.now();
          await rt.kicker.kick({
            outboxIds: [],
            deadlines: written.map((w) => ({ id: w.id, nextAt: w.nextAt! })),
          });
          kickMs += performance.now() - k;
        }
      }),
    );
  }
  const bulkSeconds = (performance.now() - t) / 1000;
  say(
    `bulk: ${BULK} deadlines written and kicked in ${bulkSeconds.toFixed(1)} s = ${fmtRate(BULK / bulkSeconds, 'deadlines')}` +
      ` (of which kicking ${(kickMs / 1000).toFixed(2)} s summed over lanes: no timers beyond the horizon)`,
  );

  // 2b. One per transaction, as the repair dialogue starts its clocks (remind at 75 % of 2 h: no timer).
  const twoHours = parseDuration('2h')!;
  const singleLatency: number[] = [];
  t = performance.now();
  {
    let next = 0;
    await Promise.all(
      Array.from({ length: args.pool }, async () => {
        for (let i = next++; i < SINGLE; i = next++) {
          const s = performance.now();
          const effects = emptyEffects();
          await d.transaction((tx) =>
            startClock(
              { tx, deps: rt.deps, effects, now: rt.deps.clock.now() },
              { caseId: range.lo + BULK + i, kind: 'repair', duration: twoHours, remind: true },
            ),
          );
          await rt.kicker.kick(effects);
          singleLatency.push(performance.now() - s);
        }
      }),
    );
  }
  const singleSeconds = (performance.now() - t) / 1000;
  const single = summarize(singleLatency);
  say(
    `one per transaction: ${SINGLE} in ${singleSeconds.toFixed(1)} s = ${fmtRate(SINGLE / singleSeconds, 'deadlines')}` +
      ` (${args.pool} at a time); each ${fmtLatency(single)}`,
  );

  // 2c. The slice due within the next minute: written in one batch, then given timers by the kick.
  t = performance.now();
  const sliceStart = Date.now() + LEAD_MS;
  const wakeAt = new Map<number, number>();
  {
    const now = new Date();
    const values = Array.from({ length: DUE }, (_, j) =>
      row(
        range.lo + BULK + SINGLE + j,
        new Date(sliceStart + Math.floor(((WINDOW_MS - LEAD_MS) * j) / DUE)),
        now,
      ),
    );
    for (let i = 0; i < values.length; i += args.batch) {
      const written = await d
        .insert(deadlines)
        .values(values.slice(i, i + args.batch))
        .returning({ id: deadlines.id, nextAt: deadlines.nextAt });
      for (const w of written) wakeAt.set(w.id, w.nextAt!.getTime());
      await rt.kicker.kick({
        outboxIds: [],
        deadlines: written.map((w) => ({ id: w.id, nextAt: w.nextAt! })),
      });
    }
  }
  const sliceSeconds = (performance.now() - t) / 1000;
  const scheduleSeconds = bulkSeconds + singleSeconds + sliceSeconds;
  const cpu = cpuBetween(cpuBefore, await sampleCpu());
  say(
    `due slice: ${DUE} written with their timers in ${sliceSeconds.toFixed(2)} s = ${fmtRate(DUE / sliceSeconds, 'deadlines')}`,
  );
  say(
    `scheduling overall: ${K} in ${scheduleSeconds.toFixed(1)} s = ${fmtRate(K / scheduleSeconds, 'deadlines')}; ` +
      `CPU ${fmtCpu(cpu)}`,
  );

  // 3. Redis, before anything of the slice fires.
  const memAfter = await usedMemory(redis);
  const keysAfter = await prefixMemory(redis, bench.prefix);
  const counts = await rt.queues.deadlines.getJobCounts('delayed', 'wait', 'active', 'prioritized');
  const timers = Object.values(counts).reduce((s, n) => s + n, 0);
  const usedDelta = memAfter - memBefore;
  const keysDelta = keysAfter.bytes - keysBefore.bytes;
  say();
  say(
    `Redis: ${timers} timers for ${K} pending deadlines; this run's keys ${keysBefore.keys} → ${keysAfter.keys}, ` +
      `${fmtBytes(keysBefore.bytes)} → ${fmtBytes(keysAfter.bytes)}`,
  );
  say(
    `  per pending deadline: ${fmtBytes(keysDelta / K)} (keys) / ${fmtBytes(usedDelta / K)} (INFO used_memory, shared Redis)` +
      `  — goal ≤ 1 KB`,
  );
  say(
    `  per timer: ${fmtBytes(keysDelta / Math.max(1, timers))} (keys) / ${fmtBytes(usedDelta / Math.max(1, timers))} (INFO used_memory)`,
  );
  const r = performance.now();
  await reconcileOnce({ db: d, deps: rt.deps, services: rt.services, kicker: rt.kicker, log: rt.log });
  const reconcileMs = performance.now() - r;
  say(`  one reconciler pass with ${K} pending: ${reconcileMs.toFixed(0)} ms`);

  // 4. Firing.
  let [lastWake, lo, hi] = [0, Number.POSITIVE_INFINITY, 0];
  for (const [id, at] of wakeAt)
    [lastWake, lo, hi] = [Math.max(lastWake, at), Math.min(lo, id), Math.max(hi, id)];
  const giveUpAt = lastWake + 60_000;
  const cpuFireBefore = await sampleCpu();
  say();
  say(`waiting for the slice to fire (last one due in ${((lastWake - Date.now()) / 1000).toFixed(0)} s) …`);
  let fired = 0;
  while (Date.now() < giveUpAt) {
    const [c] = await rt.database.sql<{ n: number }[]>`
      select count(*)::int as n from deadlines where id between ${lo} and ${hi} and breached_at is not null`;
    fired = c?.n ?? 0;
    if (fired >= DUE) break;
    await sleep(250);
  }
  const cpuFire = cpuBetween(cpuFireBefore, await sampleCpu());
  const rows = await d
    .select({ id: deadlines.id, breachedAt: deadlines.breachedAt })
    .from(deadlines)
    .where(and(between(deadlines.id, lo, hi), isNotNull(deadlines.breachedAt)));
  const lateness: number[] = [];
  let early = 0;
  for (const x of rows) {
    const due = wakeAt.get(x.id);
    if (due === undefined) continue;
    const late = x.breachedAt!.getTime() - due;
    if (late < 0) early++;
    lateness.push(late);
  }
  const late = summarize(lateness);
  const pickup = summarize([...wakeAt.keys()].flatMap((id) => (picked.has(id) ? [picked.get(id)!] : [])));
  const completed = summarize(
    [...wakeAt.keys()].flatMap((id) => (finished.has(id) ? [finished.get(id)!] : [])),
  );
  // Let the outbox worker deliver the notifications the firings queued, then see what Redis keeps.
  const outboxQueue = rt.queues.outbox.web;
  const drainUntil = Date.now() + args['drain-seconds'] * 1000;
  while (Date.now() < drainUntil) {
    const c = await outboxQueue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
    if (Object.values(c).every((n) => n === 0)) break;
    await sleep(250);
  }
  const keysFired = await prefixMemory(redis, bench.prefix);
  const delivery = await notificationLateness(wakeAt);
  const left = {
    deadlines: await rt.queues.deadlines.getJobCounts(),
    outboxWeb: await outboxQueue.getJobCounts(),
  };
  say(
    `fired ${fired}/${DUE}; early firings: ${early} (must be 0); worker job results: ${JSON.stringify(statuses)}`,
  );
  say(`  lateness, due → breached_at (in the fire transaction): ${fmtLatency(late)}  — goal p99 ≤ 1000 ms`);
  say(`  due → job picked up by the worker: ${fmtLatency(pickup)}`);
  say(`  due → job completed (committed, outbox woken): ${fmtLatency(completed)}`);
  say(`  CPU while firing: ${fmtCpu(cpuFire)}`);
  say(
    `  this run's Redis keys after firing: ${keysFired.keys}, ${fmtBytes(keysFired.bytes)}; jobs left: ` +
      `deadlines ${JSON.stringify(nonZero(left.deadlines))}, outbox-web ${JSON.stringify(nonZero(left.outboxWeb))}`,
  );
  say(
    `  due → notification delivered (outbox sent_at), to the customer's own chat: ${fmtLatency(delivery.customer.late)}` +
      `${delivery.customer.pending ? `; ${delivery.customer.pending} still pending` : ''}`,
  );
  say(
    `  due → notification delivered, to staff chats (all ${DUE} go to the same group and supervisor): ` +
      `${fmtLatency(delivery.staff.late)}${delivery.staff.pending ? `; ${delivery.staff.pending} still pending after ${args['drain-seconds']} s` : ''}`,
  );
  const limitedBy =
    fired < DUE
      ? 'not all fired in time: see the worker results and the log'
      : pickup.p99 >= 0.5 * late.p99
        ? 'timer pickup: BullMQ moving the delayed job to wait and the worker fetching it (Redis round trips, event loop, CPU)'
        : 'the fire transaction: locking the row and writing notifications in PostgreSQL before breached_at is taken';
  say(`  what limited lateness: ${limitedBy}`);
  if (early > 0 || fired < DUE) exitCode = 1;

  finalJson('deadlines', {
    at: new Date().toISOString(),
    deadlines: K,
    bulk: BULK,
    single: SINGLE,
    due: DUE,
    pool: args.pool,
    seedSeconds: round(seedSeconds, 2),
    scheduling: {
      perSec: round(K / scheduleSeconds),
      bulkPerSec: round(BULK / bulkSeconds),
      singlePerSec: round(SINGLE / singleSeconds),
      singleMs: rounded(single),
      duePerSec: round(DUE / sliceSeconds),
      bulkKickSeconds: round(kickMs / 1000, 2),
    },
    redis: {
      timers,
      keysBefore: keysBefore.keys,
      keysAfter: keysAfter.keys,
      bytesPerPendingDeadline: round(keysDelta / K, 1),
      bytesPerTimer: round(keysDelta / Math.max(1, timers), 1),
      usedMemoryDelta: usedDelta,
      usedMemoryPerPendingDeadline: round(usedDelta / K, 1),
      usedMemoryPerTimer: round(usedDelta / Math.max(1, timers), 1),
      keysAfterFiring: keysFired.keys,
      bytesAfterFiring: keysFired.bytes,
      jobsLeft: { deadlines: nonZero(left.deadlines), outboxWeb: nonZero(left.outboxWeb) },
    },
    reconcileMs: round(reconcileMs),
    fired,
    early,
    latenessMs: rounded(late),
    pickupMs: rounded(pickup),
    completedMs: rounded(completed),
    workerResults: statuses,
    deliveredMs: {
      customer: { ...rounded(delivery.customer.late), pending: delivery.customer.pending },
      staff: { ...rounded(delivery.staff.late), pending: delivery.staff.pending },
    },
    limitedBy,
    goals: {
      redisPerPendingDeadlineWithin1KB: keysDelta / K <= 1024,
      p99LatenessWithin1s: late.p99 <= 1000,
      neverEarly: early === 0,
    },
    durationS: round((performance.now() - started) / 1000, 1),
  });
} catch (err) {
  console.error(`bench:deadlines failed: ${(err as Error).stack ?? String(err)}`);
  exitCode = 1;
} finally {
  await bench.cleanup();
}
process.exit(exitCode);

/**
 * When the notifications of the firings were delivered (the web sender marks a row sent), from the
 * outbox rows' dedup keys `deadline:<id>:<level>:<due ms>:<target>…`: the customer's (one chat per
 * case) apart from the staff's (every firing writes to the same group chat and supervisor).
 */
async function notificationLateness(wakeAt: Map<number, number>) {
  const rows = await rt.database.sql<{ key: string; sent: number | null }[]>`
    select dedup_key as key, (extract(epoch from sent_at) * 1000)::float8 as sent
      from outbox where dedup_key like 'deadline:%'`;
  const out = {
    customer: { lates: [] as number[], pending: 0 },
    staff: { lates: [] as number[], pending: 0 },
  };
  for (const r of rows) {
    const [, id, , , target] = r.key.split(':');
    const due = wakeAt.get(Number(id));
    if (due === undefined) continue;
    const bucket = target === 'customer' ? out.customer : out.staff;
    if (r.sent !== null) bucket.lates.push(Number(r.sent) - due);
    else bucket.pending++;
  }
  return {
    customer: { late: summarize(out.customer.lates), pending: out.customer.pending },
    staff: { late: summarize(out.staff.lates), pending: out.staff.pending },
  };
}

function nonZero(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
}
