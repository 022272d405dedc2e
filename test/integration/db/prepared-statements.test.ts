import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase } from '../../../src/db/client.ts';
import { staff } from '../../../src/db/schema/index.ts';
import { createTestDatabase } from '../../fixtures/test-db.ts';

/** The statements this connection has prepared (pg_prepared_statements is per session). */
const preparedHere = sql`select statement from pg_prepared_statements where not from_sql`;

describe('statements are prepared once per connection', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    testDb = await createTestDatabase();
  });
  afterAll(async () => {
    await testDb?.drop();
  });

  async function preparedAfterQueries(prepare: boolean | undefined): Promise<string[]> {
    const database = connectDatabase(testDb.url, { max: 1, prepare });
    try {
      return await database.db.transaction(async (tx) => {
        for (const id of ['s1', 's2', 's3']) await tx.select().from(staff).where(eq(staff.id, id));
        await tx.execute(sql`select ${'raw'}::text as t`);
        // A savepoint's statements go through the same connection's cache.
        await tx.transaction(async (inner) => inner.select().from(staff).where(eq(staff.id, 's4')));
        const rows = await tx.execute<{ statement: string }>(preparedHere);
        // The driver prepares its own look-ups (types, savepoints) either way.
        return [...rows].map((r) => r.statement).filter((s) => s.includes('"staff"') || s.includes(' as t'));
      });
    } finally {
      await database.close();
    }
  }

  it('by default: drizzle queries and raw statements alike, each text once', async () => {
    const statements = await preparedAfterQueries(undefined);
    expect(statements.filter((s) => s.startsWith('select "id", "name"'))).toHaveLength(1);
    expect(statements.some((s) => s.includes('$1::text as t'))).toBe(true);
  });

  it('not with prepare: false (behind a pooler in transaction mode)', async () => {
    expect(await preparedAfterQueries(false)).toEqual([]);
  });
});
