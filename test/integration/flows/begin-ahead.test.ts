import { and, count, eq, isNotNull } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InboundPipeline } from '../../../src/bot/pipeline.ts';
import { inboundMessages, outbox } from '../../../src/db/schema/index.ts';
import { FAULT, webMessage } from '../../fixtures/fault-dialogue.ts';
import { eventually, startTestBot, type TestBot } from '../../fixtures/harness.ts';

// The pipeline begins the next batch's transaction while a batch runs (InboundPipeline: beginAhead),
// so that the next messages need not wait for BEGIN. These tests use pipelines of their own; the
// harness's pipeline is left alone, so the only transactions open in the database are theirs.
let bot: TestBot;
let admin: postgres.Sql;
beforeAll(async () => {
  bot = await startTestBot();
  admin = postgres(bot.rt.database.url, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await admin?.end();
  await bot?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Backends of this database idle in a transaction: the one begun ahead, if any. */
async function idleInTransaction(): Promise<number[]> {
  const rows = await admin<{ pid: number }[]>`
    select pid from pg_stat_activity
    where datname = current_database() and state = 'idle in transaction' and pid <> pg_backend_pid()`;
  return rows.map((r) => r.pid);
}

/** Waits until `n` backends are idle in a transaction, and returns them. */
const idleInTransactionUntil = (n: number) =>
  eventually(
    async () => {
      const pids = await idleInTransaction();
      return pids.length === n && pids;
    },
    5000,
    `${n} backends idle in a transaction`,
  );

/** Was the message stored, handled once and answered once? */
async function handledOnce(user: string, id: string): Promise<void> {
  const [stored] = await bot.rt.database.db
    .select({ n: count() })
    .from(inboundMessages)
    .where(and(eq(inboundMessages.channelMessageId, id), isNotNull(inboundMessages.processedAt)));
  expect(stored!.n).toBe(1);
  const [replies] = await bot.rt.database.db
    .select({ n: count() })
    .from(outbox)
    .where(eq(outbox.chatId, `c-${user}`));
  expect(replies!.n).toBe(1);
}

describe('a transaction begun ahead of the next batch', () => {
  it("takes the next messages: their statements follow no BEGIN on their transaction's connection", async () => {
    // Each statement the pool sends, with its connection, and the pipeline's hooks, in order.
    const events: { kind: string; connection?: number }[] = [];
    const options = bot.rt.database.sql.options as unknown as { debug?: unknown };
    options.debug = (connection: number, text: string) =>
      events.push({ kind: text.trim().split(/\s+/)[0]!.toLowerCase(), connection });
    const pipeline = (beginAheadMs: number) =>
      new InboundPipeline(bot.rt, {
        beginAheadMs,
        onStarted: () => events.push({ kind: 'started' }),
        onPhase: (_msgs, phase) => events.push({ kind: phase }),
      });
    /** The statements sent on the batch's connection between its start and its first round trip. */
    const beforeFirstRound = () => {
      const started = events.findIndex((e) => e.kind === 'started');
      const begun = events.findIndex((e) => e.kind === 'begun');
      // The first round trip starts with the dialogue locks.
      const first = events.find((e, i) => i > begun && e.kind === 'select');
      return events.slice(started, begun).filter((e) => e.connection === first!.connection);
    };
    try {
      const ahead = pipeline(60_000);
      await ahead.receiveAndProcess(webMessage('ahead', 'ahead-0', FAULT[0]!));
      await idleInTransactionUntil(1);
      events.length = 0;
      await ahead.receiveAndProcess(webMessage('ahead', 'ahead-1', FAULT[1]!));
      expect(beforeFirstRound()).toEqual([]);
      await ahead.drain();

      // Without it, the batch's own BEGIN goes first.
      const cold = pipeline(0);
      await cold.receiveAndProcess(webMessage('cold', 'cold-0', FAULT[0]!));
      events.length = 0;
      await cold.receiveAndProcess(webMessage('cold', 'cold-1', FAULT[1]!));
      expect(beforeFirstRound().map((e) => e.kind)).toEqual(['begin']);
      await cold.drain();
    } finally {
      options.debug = undefined;
    }
  });

  it('left unused, commits empty after beginAheadMs; drain() ends it at once; with 0, none is begun', async () => {
    const short = new InboundPipeline(bot.rt, { beginAheadMs: 300 });
    await short.receiveAndProcess(webMessage('idle1', 'idle1-0', FAULT[0]!));
    const opened = Date.now();
    expect(await idleInTransactionUntil(1)).toHaveLength(1);
    expect(await idleInTransactionUntil(0)).toHaveLength(0);
    expect(Date.now() - opened).toBeGreaterThanOrEqual(250);
    await short.drain();

    const long = new InboundPipeline(bot.rt, { beginAheadMs: 60_000 });
    await long.receiveAndProcess(webMessage('idle2', 'idle2-0', FAULT[0]!));
    expect(await idleInTransactionUntil(1)).toHaveLength(1);
    await long.drain();
    expect(await idleInTransaction()).toEqual([]);

    const none = new InboundPipeline(bot.rt, { beginAheadMs: 0 });
    await none.receiveAndProcess(webMessage('idle3', 'idle3-0', FAULT[0]!));
    await sleep(100);
    expect(await idleInTransaction()).toEqual([]);
    await none.drain();
  });

  it('is not begun when the pool has no connection to spare beyond the batches', async () => {
    const small = new InboundPipeline(
      { ...bot.rt, env: { ...bot.rt.env, DATABASE_POOL_SIZE: 2 } },
      { concurrency: 2, beginAheadMs: 60_000 },
    );
    await small.receiveAndProcess(webMessage('small', 'small-0', FAULT[0]!));
    await sleep(100);
    expect(await idleInTransaction()).toEqual([]);
    await small.drain();
    const roomy = new InboundPipeline(
      { ...bot.rt, env: { ...bot.rt.env, DATABASE_POOL_SIZE: 3 } },
      { concurrency: 2, beginAheadMs: 60_000 },
    );
    await roomy.receiveAndProcess(webMessage('roomy', 'roomy-0', FAULT[0]!));
    expect(await idleInTransactionUntil(1)).toHaveLength(1);
    await roomy.drain();
  });

  it('its connection lost while it waits: the next message is handled all the same', async () => {
    const pipeline = new InboundPipeline(bot.rt, { beginAheadMs: 60_000 });
    await pipeline.receiveAndProcess(webMessage('lost1', 'lost1-0', FAULT[0]!));
    const [pid] = await idleInTransactionUntil(1);
    await admin`select pg_terminate_backend(${pid!})`;
    await sleep(200);
    await pipeline.receiveAndProcess(webMessage('lost2', 'lost2-0', FAULT[0]!));
    await handledOnce('lost2', 'lost2-0');
    await pipeline.drain();
    expect(await idleInTransaction()).toEqual([]);
  });

  it('its connection lost as messages are handed to it: each is stored, handled and answered once', async () => {
    const pipeline = new InboundPipeline(bot.rt, { beginAheadMs: 60_000 });
    await pipeline.receiveAndProcess(webMessage('race', 'race-0', FAULT[0]!));
    // The kill and the hand-over race. Whichever comes first, a message is either received or
    // refused (the channel then delivers it again, as it does when the database fails): never
    // lost, never handled twice.
    let refused = 0;
    for (let i = 0; i < 5; i++) {
      const [pid] = await idleInTransactionUntil(1);
      const msgs = [`race${i}a`, `race${i}b`].map((u) => webMessage(u, `${u}-0`, FAULT[0]!));
      const [, ...received] = await Promise.allSettled([
        admin`select pg_terminate_backend(${pid!})`,
        ...msgs.map((m) => pipeline.receiveAndProcess(m)),
      ]);
      for (const [n, r] of received.entries())
        if (r.status === 'rejected') {
          refused++;
          await pipeline.receiveAndProcess(msgs[n]!);
        }
      for (const m of msgs) await handledOnce(m.sender.id, m.channelMessageId);
    }
    expect(refused).toBeLessThan(10);
    await pipeline.drain();
    expect(await idleInTransaction()).toEqual([]);
  });
});
