import { type SQL, sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastMessageOf } from '../../../src/bot/wechat/official-account/sender.ts';
import { customers } from '../../../src/db/schema/index.ts';
import { rowsOf, selectByIds } from '../../../src/flows/engine/batch.ts';
import { createTestDatabase } from '../../fixtures/test-db.ts';

// Statements are prepared, and PostgreSQL may keep one generic plan for every later run, made
// without the parameters' values and with the statistics of the day: it is made again only once
// the table is analyzed again (after a tenth of its rows changed, at most once a minute). These
// check the plans kept for statements a batch sends each round (checked: the earlier forms of these
// statements fail these tests).

const dialect = new PgDialect();
let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
let conn: postgres.Sql;

beforeAll(async () => {
  testDb = await createTestDatabase();
  conn = postgres(testDb.url, { max: 1, onnotice: () => {} });
  await conn`alter table customers set (autovacuum_enabled = false)`;
  await conn`set plan_cache_mode = force_generic_plan`;
});

/** Customers up to `n` in all (phone 139 and the id in 8 digits), analyzed if asked. */
async function customersUpTo(n: number, opts: { analyze: boolean }): Promise<void> {
  await conn`
    insert into customers (name, phone, address, lang, created_at, updated_at)
    select 'c' || n, '139' || lpad(n::text, 8, '0'), 'addr ' || n, 'zh', now(), now()
    from generate_series((select count(*) + 1 from customers), ${n}) as n`;
  if (opts.analyze) await conn`analyze customers`;
}
afterAll(async () => {
  await conn?.end({ timeout: 1 });
  await testDb?.drop();
});

/** Prepares a statement as `s`, its generic plan made now. */
async function prepare(query: SQL, literals: string[]): Promise<void> {
  const { sql: text } = dialect.sqlToQuery(query);
  await conn.unsafe('deallocate all');
  await conn.unsafe(`prepare s as ${text}`);
  await planOfS(literals);
}

/** The plan `s` runs with now, as EXPLAIN prints it (parameters given as SQL literals). */
async function planOfS(literals: string[]): Promise<string> {
  const rows = await conn.unsafe(`explain execute s(${literals.join(', ')})`);
  return rows.map((r) => r['QUERY PLAN'] as string).join('\n');
}

/** A stand-in for a transaction: it records the statements sent to it and returns no rows. */
function capture(): { tx: never; sent: SQL[] } {
  const sent: SQL[] = [];
  const tx = {
    execute: (q: SQL) => {
      sent.push(q);
      return Promise.resolve([]);
    },
  };
  return { tx: tx as never, sent };
}

describe('plans of the batched statements', () => {
  it('selectByIds looks each id up in the index, in a plan made when the table was small', async () => {
    // A list filter (`id = any(…)`) is planned as a scan of a table this size, comparing every
    // row with every id; the plan stays while the table grows (as the bot's tables do at first).
    await customersUpTo(600, { analyze: true });
    const { tx, sent } = capture();
    await selectByIds(tx, customers, customers.id, [5, 7, 11], 'int');
    const ids = `'["5","7","11"]'`;
    await prepare(sent[0]!, [ids]);
    await customersUpTo(20000, { analyze: false });
    const plan = await planOfS([ids]);
    expect(plan).toContain('Index Scan using customers_pkey');
    expect(plan).not.toContain('Seq Scan on customers');
    // It finds the rows, mapped as drizzle maps them, in the order of the ids, each once.
    const found = await selectByIds(testDb.database.db, customers, customers.id, [11, 5, 7, 5], 'int');
    expect(found.map((r) => [r.id, r.phone])).toEqual([
      [11, '13900000011'],
      [5, '13900000005'],
      [7, '13900000007'],
    ]);
    expect(found[0]!.createdAt).toBeInstanceOf(Date);
  });

  it('an update joined on rowsOf looks each row up in the index (past a few thousand rows)', async () => {
    await customersUpTo(20000, { analyze: true });
    const rows = [{ id: 5, phone: '13900000000' }];
    const literals = [`'${JSON.stringify(rows)}'`, '1'];
    await prepare(
      sql`update customers c set phone = r.phone from (${rowsOf(rows, sql`id int, phone text`)}) as r where c.id = r.id`,
      literals,
    );
    const plan = await planOfS(literals);
    expect(plan).toContain('Index Scan using customers_pkey');
    expect(plan).not.toContain('Seq Scan on customers');
  });

  it("the service window's look-up uses the official account's index, in a generic plan", async () => {
    // The index holds that channel's messages only: a statement with the channel as a parameter
    // could not use it once planned without the parameter's value (checked: it scans the table).
    await conn`
      insert into inbound_messages (channel, channel_message_id, chat_id, sender_id, payload, received_at, processed_at, attempts)
      select case when n % 10 = 0 then 'wechat-oa' else 'web' end, 'm' || n, 'c' || (n % 500), 'u' || (n % 500),
             '{}', now() - n * interval '1 second', now(), 1
      from generate_series(1, 20000) as n`;
    await conn`analyze inbound_messages`;
    const { sql: text, params } = lastMessageOf(testDb.database.db, 'u10').toSQL();
    await conn.unsafe('deallocate all');
    await conn.unsafe(`prepare s as ${text}`);
    const plan = await planOfS(params.map((p) => (typeof p === 'number' ? String(p) : `'${p}'`)));
    expect(plan).toContain('inbound_oa_sender_idx');
    expect(plan).not.toContain('Seq Scan on inbound_messages');
    // And it finds the follower's last message.
    const [last] = await lastMessageOf(testDb.database.db, 'u10');
    expect(last?.at).toBeInstanceOf(Date);
  });
});
