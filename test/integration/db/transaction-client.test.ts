import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type Database } from '../../../src/db/client.ts';
import { createTestDatabase } from '../../fixtures/test-db.ts';

describe('a transaction whose connection is lost', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let database: Database;
  let admin: postgres.Sql;
  beforeAll(async () => {
    testDb = await createTestDatabase();
    database = connectDatabase(testDb.url, { max: 2 });
    admin = postgres(testDb.url, { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    await database?.close();
    await admin?.end();
    await testDb?.drop();
  });

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const terminate = (pid: number) => admin`select pg_terminate_backend(${pid})`;
  /** The driver's error code (drizzle wraps the driver's errors, keeping them as `cause`). */
  const codeOf = (err: unknown) => {
    const e = err as { code?: string; cause?: { code?: string } };
    return e.cause?.code ?? e.code;
  };

  it('between two statements: the transaction fails, so does what it issues next, and the process goes on', async () => {
    let next: Promise<unknown> | undefined;
    let finished!: () => void;
    const callbackDone = new Promise<void>((resolve) => {
      finished = resolve;
    });
    const outcome = database.db.transaction(async (tx) => {
      const [row] = await tx.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`);
      await terminate(row!.pid);
      await sleep(300); // the connection closes while the callback has nothing in flight
      // Given to the driver, this statement would be written from a timer onto the closed
      // connection and end the process with an uncaught TypeError.
      next = tx.execute(sql`select 1`).then(() => 'ran', codeOf);
      await next;
      finished(); // and the driver must not send COMMIT on the closed connection either
    });
    await expect(outcome).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
    await callbackDone;
    expect(await next).toBe('CONNECTION_CLOSED');
    await sleep(50);
    const [again] = await database.db.execute<{ ok: number }>(sql`select 1 as ok`);
    expect(again!.ok).toBe(1);
  });

  it('during a statement: the statements the callback issues after that failure fail too', async () => {
    const seen: string[] = [];
    const outcome = database.db.transaction(async (tx) => {
      const [row] = await tx.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`);
      const slow = tx.execute(sql`select pg_sleep(5)`);
      await sleep(100);
      await terminate(row!.pid);
      try {
        await slow;
      } catch (err) {
        seen.push(codeOf(err) ?? 'none');
        // What a handler does on failure: record it, in the same transaction.
        await tx.execute(sql`select 2`).catch((e: unknown) => seen.push(codeOf(e) ?? 'none'));
      }
    });
    await expect(outcome).rejects.toBeTruthy();
    await sleep(50);
    // The socket's own error (a reset) or the driver's; the next statement gets the same.
    expect(['ECONNRESET', 'CONNECTION_CLOSED']).toContain(seen[0]);
    expect(seen).toEqual([seen[0], seen[0]]);
    const [again] = await database.db.execute<{ ok: number }>(sql`select 1 as ok`);
    expect(again!.ok).toBe(1);
  });
  it('during its COMMIT: the transaction fails with the connection, and the pool goes on', async () => {
    // A deferred constraint trigger that sleeps: the COMMIT takes a second, and the backend is
    // terminated meanwhile.
    await admin.unsafe(`
      create table if not exists slow_commit (v int);
      create or replace function slow_commit_check() returns trigger language plpgsql as
        $$ begin perform pg_sleep(1); return null; end $$;
      drop trigger if exists slow_commit_trg on slow_commit;
      create constraint trigger slow_commit_trg after insert on slow_commit
        deferrable initially deferred for each row execute function slow_commit_check();`);
    let pid = 0;
    const outcome = database.db.transaction(async (tx) => {
      const [row] = await tx.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`);
      pid = row!.pid;
      await tx.execute(sql`insert into slow_commit values (1)`);
    });
    await sleep(300);
    await terminate(pid);
    const err = await outcome.then(
      () => null,
      (e: unknown) => e,
    );
    expect(['ECONNRESET', 'CONNECTION_CLOSED']).toContain(codeOf(err));
    const [kept] = await admin<{ n: number }[]>`select count(*)::int as n from slow_commit`;
    expect(kept!.n).toBe(0);
    // The pool serves queries again. The first query on a connection the driver opens again after
    // such a kill may fail with the killed backend's error (porsager/postgres#1223): once for each
    // of the pool's two connections (the one before was killed too).
    let ok: number | undefined;
    for (let attempt = 0; attempt < 3 && ok === undefined; attempt++) {
      try {
        const [row] = await database.db.execute<{ ok: number }>(sql`select 1 as ok`);
        ok = row!.ok;
      } catch (e) {
        expect(codeOf(e)).toBe('57P01');
      }
    }
    expect(ok).toBe(1);
  });
});

describe('a transaction', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let database: Database;
  beforeAll(async () => {
    testDb = await createTestDatabase();
    database = connectDatabase(testDb.url, { max: 2 });
    await database.db.execute(sql`create table t (v text primary key)`);
  });
  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  const values = async () =>
    [...(await database.db.execute<{ v: string }>(sql`select v from t order by v`))].map((r) => r.v);
  const codeOf = (err: unknown) => {
    const e = err as { code?: string; cause?: { code?: string } };
    return e.cause?.code ?? e.code;
  };

  it('a savepoint that fails is undone, and the transaction goes on and commits', async () => {
    await database.db.transaction(async (tx) => {
      await tx.execute(sql`insert into t values ('sp-before')`);
      await expect(
        tx.transaction(async (sp) => {
          await sp.execute(sql`insert into t values ('sp-inside')`);
          await sp.execute(sql`insert into t values ('sp-inside')`); // duplicate key
        }),
      ).rejects.toSatisfy((err) => codeOf(err) === '23505');
      const kept = await tx.transaction(async (sp) => {
        await sp.execute(sql`insert into t values ('sp-kept')`);
        return 'ok';
      });
      expect(kept).toBe('ok');
      await tx.execute(sql`insert into t values ('sp-after')`);
    });
    const v = await values();
    expect(v.filter((x) => x.startsWith('sp-'))).toEqual(['sp-after', 'sp-before', 'sp-kept']);
  });

  it('a failed statement the callback swallowed still fails the transaction, with its own error', async () => {
    for (let i = 0; i < 5; i++) {
      const outcome = database.db.transaction(async (tx) => {
        await tx.execute(sql`insert into t values (${`swallowed-${i}`})`);
        await tx.execute(sql`select 1 / 0`).catch(() => {});
        // The transaction is aborted: this fails with 25P02, and is swallowed too.
        await tx.execute(sql`select 1`).catch(() => {});
        return 'done';
      });
      await expect(outcome).rejects.toSatisfy((err) => codeOf(err) === '22012'); // division by zero
    }
    expect((await values()).some((v) => v.startsWith('swallowed'))).toBe(false);
    // Every connection went back to the pool (2 of them, 5 transactions).
    const [again] = await database.db.execute<{ ok: number }>(sql`select 1 as ok`);
    expect(again!.ok).toBe(1);
  });

  it('a statement issued through a transaction after it ended fails, and does not run', async () => {
    let kept: Parameters<Parameters<typeof database.db.transaction>[0]>[0] | undefined;
    await database.db.transaction(async (tx) => {
      kept = tx;
      await tx.execute(sql`insert into t values ('in-time')`);
    });
    // Sent, it would run on a connection given back to the pool, outside any transaction.
    const err = (await kept!.execute(sql`insert into t values ('late')`).catch((e: unknown) => e)) as {
      message?: string;
      cause?: { message?: string };
    };
    expect(err.cause?.message ?? err.message).toMatch(/after its transaction ended/);
    const v = await values();
    expect(v).toContain('in-time');
    expect(v).not.toContain('late');
  });
});
