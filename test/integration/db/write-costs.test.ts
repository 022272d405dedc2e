import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveDialogue } from '../../../src/flows/engine/dialogue-store.ts';
import { type Effects, emptyEffects } from '../../../src/flows/engine/effects.ts';
import { storeInbound } from '../../../src/flows/engine/inbound.ts';
import type { Channel } from '../../../src/flows/engine/message.ts';
import { enqueueMessage } from '../../../src/flows/outbox/enqueue.ts';
import { createTestDatabase } from '../../fixtures/test-db.ts';

// What every customer message costs in index upkeep: each is stored, and saves its dialogue.

let testDb: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  testDb = await createTestDatabase();
});
afterAll(async () => {
  await testDb?.drop();
});

/** The size of an index: 8 kB while it holds nothing (the meta page alone). */
async function sizeOf(index: string): Promise<number> {
  const [row] = await testDb.database.db.execute<{ bytes: string }>(
    sql`select pg_relation_size(${index}::regclass) as bytes`,
  );
  return Number(row!.bytes);
}

describe('index upkeep on every message', () => {
  // PostgreSQL rewrites a row in place (a HOT update: no new index entries, and the old version is
  // cleaned up with the page) only when no indexed column changes, and a save always moves
  // `updated_at`. Checked: with an index on `updated_at` (before migration 0001) this fails.
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

  // The look-up by sender is the official account's service window only (checked: with the index
  // on every channel's messages, before migration 0002, this fails).
  it("a message of another channel adds no entry to the official account's sender index", async () => {
    const db = testDb.database.db;
    const indexSize = () => sizeOf('inbound_oa_sender_idx');
    const message = (channel: Channel, n: number) => ({
      channel,
      channelMessageId: `${channel}-${n}`,
      chatId: `chat-${n}`,
      chatKind: 'private' as const,
      sender: { id: `user-${n}` },
      receivedAt: new Date(),
      text: '你好',
    });
    const empty = await indexSize(); // the meta page alone
    for (let n = 0; n < 300; n++) await storeInbound(db, message(n % 2 ? 'web' : 'telegram', n));
    expect(await indexSize()).toBe(empty);
    await storeInbound(db, message('wechat-oa', 1));
    expect(await indexSize()).toBeGreaterThan(empty);
  });

  // A reply has no dedup key (only repeatable jobs' messages have one). Checked: with every row in
  // the unique index (before migration 0003), the first expectation fails.
  it('a reply without a dedup key adds no entry to the unique index of keys, which still dedups', async () => {
    const db = testDb.database.db;
    const empty = await sizeOf('outbox_dedup_uq');
    const now = new Date();
    const queue = (chatId: string, opts: { dedupKey?: string; effects?: Effects } = {}) =>
      enqueueMessage(db, {
        channel: 'web',
        chatId,
        reply: { text: 'reply' },
        now,
        effects: opts.effects ?? emptyEffects(),
        dedupKey: opts.dedupKey,
      });
    for (let n = 0; n < 300; n++) await queue(`chat-${n}`);
    expect(await sizeOf('outbox_dedup_uq')).toBe(empty);
    const first = emptyEffects();
    const again = emptyEffects();
    await queue('c', { dedupKey: 'k1', effects: first });
    await queue('c', { dedupKey: 'k1', effects: again });
    expect(first.outboxIds).toHaveLength(1);
    expect(again.outboxIds).toHaveLength(0);
    expect(await sizeOf('outbox_dedup_uq')).toBeGreaterThan(empty);
  });
});
