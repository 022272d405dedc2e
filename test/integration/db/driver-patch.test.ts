import { createRequire } from 'node:module';
import net from 'node:net';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { checkDriverPatch } from '../../../src/db/client.ts';
import { capturingLogger } from '../../fixtures/logger.ts';
import { adminDatabaseUrl } from '../../fixtures/urls.ts';

// patches/postgres+3.4.9.patch (applied by `patch-package` after every install): the driver's query
// holds a plain promise instead of extending Promise, because V8's scavenger kept every awaited
// Promise-subclass query, with all it reached, until a full collection; and what it writes in one
// turn of the event loop goes out in one socket write, however large (README, Performance). These
// check that the patch is in place and that a query still behaves as a promise everywhere we use one.
const sql = postgres(adminDatabaseUrl(), { max: 2, onnotice: () => {} });
afterAll(() => sql.end({ timeout: 1 }));

describe('the patched postgres.js query', () => {
  it('is a thenable, not a Promise subclass, in the ES module and the CommonJS build alike', () => {
    const query = sql.unsafe('select 1 as v');
    expect(query).not.toBeInstanceOf(Promise);
    expect(typeof query.then).toBe('function');
    const cjs = createRequire(import.meta.url)('postgres') as typeof postgres;
    const other = cjs(adminDatabaseUrl(), { max: 1 });
    expect(other.unsafe('select 1')).not.toBeInstanceOf(Promise);
    return other.end({ timeout: 1 });
  });

  it('answers through await, then, catch, finally and Promise.all', async () => {
    expect(await sql.unsafe('select 1 as v')).toEqual([{ v: 1 }]);
    expect(await sql.unsafe('select $1::int as v', [2]).then((rows) => rows[0]?.v)).toBe(2);
    expect(await sql.unsafe('select 3 as v').values()).toEqual([[3]]);
    let finished = false;
    await sql.unsafe('select 4').finally(() => {
      finished = true;
    });
    expect(finished).toBe(true);
    const all = await Promise.all([sql.unsafe('select 5 as v'), sql.unsafe('select 6 as v')]);
    expect(all.map((rows) => rows[0]?.v)).toEqual([5, 6]);
  });

  it('rejects a failing statement through await and catch, with the server error', async () => {
    await expect(sql.unsafe('select * from no_such_table')).rejects.toMatchObject({ code: '42P01' });
    const caught = await sql.unsafe('select 1/0').catch((err: { code?: string }) => err.code);
    expect(caught).toBe('22012');
  });

  it('runs transactions: commits, and rolls back when the callback throws', async () => {
    const table = `driver_patch_${process.pid}`;
    await sql.unsafe(`create table if not exists ${table} (v int)`);
    try {
      await sql.begin(async (tx) => {
        await tx.unsafe(`insert into ${table} values (1)`);
      });
      await expect(
        sql.begin(async (tx) => {
          await tx.unsafe(`insert into ${table} values (2)`);
          throw new Error('undo');
        }),
      ).rejects.toThrow('undo');
      expect(await sql.unsafe(`select v from ${table}`)).toEqual([{ v: 1 }]);
    } finally {
      await sql.unsafe(`drop table ${table}`);
    }
  });
});

/** A real connection to the test server whose writes are recorded (postgres.js's `socket` option). */
function recordedSocket() {
  const writes: Buffer[] = [];
  const { hostname, port } = new URL(adminDatabaseUrl());
  const open = () =>
    new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect(Number(port || 5432), hostname);
      const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
      socket.write = ((chunk: Uint8Array, ...rest: unknown[]) => {
        writes.push(Buffer.from(chunk));
        return write(chunk, ...rest);
      }) as typeof socket.write;
      socket.once('connect', () => resolve(socket)).once('error', reject);
    });
  return { writes, open };
}

describe('the patched postgres.js connection', () => {
  it('sends what is written in one turn of the event loop in one socket write, however large', async () => {
    const recorded = recordedSocket();
    // `socket` is a documented option its types leave out.
    const options = { max: 1, socket: recorded.open, onnotice: () => {} };
    const own = postgres(adminDatabaseUrl(), options);
    try {
      const big = 'x'.repeat(3000);
      const answers = await own.begin(async (tx) => {
        const before = recorded.writes.length;
        const all = await Promise.all([
          tx.unsafe(`select 'a' as v`),
          tx.unsafe(`select 'b' as v`),
          tx.unsafe(`select '${big}' || 'c' as v`),
          tx.unsafe(`select '${big}' || 'd' as v`),
        ]);
        // The stock driver writes each statement over 1 KiB by itself: three writes.
        expect(recorded.writes.length - before).toBe(1);
        return all;
      });
      // Each statement arrived whole and in its place.
      expect(answers.map((rows) => rows[0]?.v)).toEqual(['a', 'b', `${big}c`, `${big}d`]);
    } finally {
      await own.end({ timeout: 1 });
    }
  });
});

describe('checkDriverPatch', () => {
  it('finds the patch in place and says nothing', () => {
    const { log, lines } = capturingLogger('info');
    expect(checkDriverPatch(sql, log)).toBe(true);
    expect(lines()).toEqual([]);
  });

  it('warns, naming the fix, when queries are Promise subclasses (the stock driver)', () => {
    class StockQuery extends Promise<unknown> {}
    const stock = { unsafe: () => new StockQuery(() => {}) } as unknown as Pick<postgres.Sql, 'unsafe'>;
    const { log, lines } = capturingLogger('info');
    expect(checkDriverPatch(stock, log)).toBe(false);
    expect(lines()).toEqual([
      expect.objectContaining({ level: 40, msg: expect.stringContaining('npx patch-package') }),
    ]);
  });
});
