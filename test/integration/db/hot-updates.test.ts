import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveDialogue } from '../../../src/flows/engine/dialogue-store.ts';
import { createTestDatabase } from '../../fixtures/test-db.ts';

// Every customer message saves the sender's dialogue. PostgreSQL rewrites a row in place (a HOT
// update: no new index entries, and the old version is cleaned up with the page) only when no
// indexed column changes, and a save always moves `updated_at`. Checked: with an index on
// `updated_at` (the form before migration 0001) this test fails.

let testDb: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  testDb = await createTestDatabase();
});
afterAll(async () => {
  await testDb?.drop();
});

describe('row updates on every message', () => {
  it('a dialogue step rewrites the dialogue row in place (HOT), its time moving on', async () => {
    const key = { channel: 'web' as const, chatId: 'c-hot', userId: 'u-hot' };
    const counts = await testDb.database.db.transaction(async (tx) => {
      for (const [i, step] of ['category', 'address', 'phone', 'description'].entries())
        await saveDialogue(tx, key, {
          flow: 'repair',
          flowVersion: 1,
          step,
          data: { step: i },
          history: ['category', 'address', 'phone'].slice(0, i),
          offered: [],
          lang: 'zh',
          now: new Date(Date.UTC(2026, 10, 30, 2, i)),
        });
      // This transaction's own counts, so nothing waits for the statistics to be flushed.
      const [row] = await tx.execute<{ updated: string; hot: string }>(sql`
        select pg_stat_get_xact_tuples_updated('dialogues'::regclass) as updated,
               pg_stat_get_xact_tuples_hot_updated('dialogues'::regclass) as hot`);
      return row!;
    });
    expect(Number(counts.updated)).toBe(3);
    expect(Number(counts.hot)).toBe(3);
  });
});
