// `npm run bench:driver`: what the driver patch's write joining saves (patches/postgres+3.4.9.patch,
// connection.js): the patched postgres.js against a copy with that part of the patch taken back out
// (the stock driver's writes), both loaded in this one process and run in alternating slices, so
// the machine's drift over minutes falls on both alike (whole bench:inbound runs taken in turn
// cannot tell a 10 % change from it).
//
// Each transaction is shaped like a batch's: a statement with a JSON parameter of a few KB (the
// first round trip), then two such inserts with the COMMIT (the held-back writes). Every connection
// is a real socket to the machine's PostgreSQL whose writes are counted (postgres.js's `socket`
// option). Figures are printed, never asserted.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type postgres from 'postgres';
import { benchArgs } from './lib/args.ts';
import { finalJson, say } from './lib/report.ts';
import { createBenchDatabase } from './lib/setup.ts';

const args = benchArgs('usage: npm run bench:driver -- [options]', {
  rounds: { type: 'number', default: 10, help: 'slices of each version, taken in turn' },
  'slice-ms': { type: 'number', default: 1500, help: 'length of a slice' },
  concurrency: { type: 'number', default: 4, help: 'transactions at a time' },
  rows: { type: 'number', default: 8, help: 'rows in each statement’s JSON parameter (a batch’s messages)' },
});

const require = createRequire(import.meta.url);
// The CommonJS entry is cjs/src/index.js.
const root = path.resolve(path.dirname(require.resolve('postgres')), '../..');
const patchFile = path.resolve(import.meta.dirname, '../patches/postgres+3.4.9.patch');

/** A copy of the installed driver with the patch's connection.js part reversed (query.js stays patched). */
function stockWritesCopy(): { dir: string; load(): typeof postgres } {
  const dir = mkdtempSync(path.join(tmpdir(), 'gsb-bench-driver-'));
  cpSync(root, dir, { recursive: true });
  execFileSync(
    'git',
    ['apply', '-R', '-p3', '--include=src/connection.js', '--include=cjs/src/connection.js', patchFile],
    { cwd: dir },
  );
  return { dir, load: () => require(path.join(dir, 'cjs/src/index.js')) as typeof postgres };
}

interface Counted {
  sql: postgres.Sql;
  writes: () => number;
}

function pool(driver: typeof postgres, url: string): Counted {
  let writes = 0;
  const { hostname, port } = new URL(url);
  const socket = () =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(Number(port || 5432), hostname);
      const write = s.write.bind(s) as (...a: unknown[]) => boolean;
      s.write = ((...a: unknown[]) => {
        writes++;
        return write(...a);
      }) as typeof s.write;
      s.once('connect', () => resolve(s)).once('error', reject);
    });
  // `socket` is a documented option its types leave out.
  const options = { max: 10, socket, onnotice: () => {} };
  return { sql: driver(url, options), writes: () => writes };
}

const payload = JSON.stringify(
  Array.from({ length: args.rows }, (_, i) => ({
    channel: 'web',
    chat_id: `c-${i}`,
    text: '灶具打不着火，气很小'.repeat(8),
    data: { phone: '13900000000', address: '西湖区文三路 100 号 3 幢 201' },
  })),
);

const prepared = { prepare: true };

/**
 * The first statement is awaited; the inserts are held back as the bot's are: sent, not awaited, so
 * the COMMIT follows them in the same turn (a failed one fails the transaction, through the driver).
 */
async function transaction(sql: postgres.Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx.unsafe('select count(*) from jsonb_array_elements($1::text::jsonb)', [payload], prepared);
    for (let i = 0; i < 2; i++)
      tx.unsafe('insert into bench_driver (v) values ($1::text::jsonb)', [payload], prepared).catch(() => {});
  });
}

interface Tally {
  transactions: number;
  cpuMicros: number;
  writes: number;
  seconds: number;
}

async function slice(p: Counted, ms: number, into: Tally): Promise<void> {
  const end = performance.now() + ms;
  const writes0 = p.writes();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  await Promise.all(
    Array.from({ length: args.concurrency }, async () => {
      while (performance.now() < end) {
        await transaction(p.sql);
        n++;
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  into.transactions += n;
  into.cpuMicros += cpu.user + cpu.system;
  into.writes += p.writes() - writes0;
  into.seconds += (performance.now() - t0) / 1000;
}

const emptyTally = (): Tally => ({ transactions: 0, cpuMicros: 0, writes: 0, seconds: 0 });

function figuresOf(t: Tally) {
  return {
    transactionsPerSec: Math.round(t.transactions / t.seconds),
    nodeMicrosPerTransaction: Math.round((t.cpuMicros / t.transactions) * 10) / 10,
    writesPerTransaction: Math.round((t.writes / t.transactions) * 100) / 100,
  };
}

const db = await createBenchDatabase('driver');
let stock: ReturnType<typeof stockWritesCopy> | undefined;
let versions: Record<'patched' | 'stock', Counted> | undefined;
try {
  stock = stockWritesCopy();
  versions = {
    patched: pool(require('postgres') as typeof postgres, db.url),
    stock: pool(stock.load(), db.url),
  };
  say(`bench:driver — database ${db.name}; ${args.rounds} slices of ${args['slice-ms']} ms each, in turn`);
  say(
    `${args.concurrency} transactions at a time, each a statement with a ${Buffer.byteLength(payload)}-byte JSON parameter, then two inserts of it held back with the COMMIT`,
  );
  await versions.patched.sql.unsafe('create unlogged table bench_driver (id bigserial, v jsonb)');
  for (const p of Object.values(versions)) await slice(p, 1000, emptyTally());
  const tally = { patched: emptyTally(), stock: emptyTally() };
  for (let r = 0; r < args.rounds; r++)
    for (const name of r % 2 ? (['stock', 'patched'] as const) : (['patched', 'stock'] as const)) {
      await slice(versions[name], args['slice-ms'], tally[name]);
      await versions.patched.sql.unsafe('truncate bench_driver');
    }
  const figures = { patched: figuresOf(tally.patched), stock: figuresOf(tally.stock) };
  for (const [name, f] of Object.entries(figures))
    say(
      `${name.padEnd(8)} ${f.transactionsPerSec} transactions/s; Node ${f.nodeMicrosPerTransaction} µs of CPU a transaction; ${f.writesPerTransaction} socket writes a transaction`,
    );
  const saved = 1 - figures.patched.nodeMicrosPerTransaction / figures.stock.nodeMicrosPerTransaction;
  say(`the patch's joined writes: ${(saved * 100).toFixed(1)} % less Node CPU a transaction`);
  finalJson('driver', { ...args, ...figures, nodeCpuSaved: Math.round(saved * 1000) / 1000 });
} finally {
  for (const p of Object.values(versions ?? {})) await p.sql.end({ timeout: 1 });
  await db.drop();
  if (stock) rmSync(stock.dir, { recursive: true, force: true });
}
