import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq, inArray } from 'drizzle-orm';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureRedis } from '../../../src/db/redis-server.ts';
import { caseEvents, deadlines, inboundMessages, outbox } from '../../../src/db/schema/index.ts';
import { fireDeadline } from '../../../src/flows/deadlines/fire-deadline.ts';
import { emptyEffects } from '../../../src/flows/engine/effects.ts';
import { enqueueMessage } from '../../../src/flows/outbox/enqueue.ts';
import { BATCH_RETRY_DELAY_MS, deliverBatch } from '../../../src/workers/deliver-batch.ts';
import {
  deliverOutbox,
  WAITING_ROW_RECHECK_MAX_MS,
  WAITING_ROW_RECHECK_MS,
  waitingRecheckMs,
} from '../../../src/workers/deliver-outbox.ts';
import { startOutboxWorker } from '../../../src/workers/outbox-worker.ts';
import { outboxBatchJobId, outboxJobId } from '../../../src/workers/queues.ts';
import { type ChannelSender, SendError } from '../../../src/workers/senders.ts';
import { customer, eventually, startTestBot, type TestBot } from '../../fixtures/harness.ts';
import { testPolicy } from '../../fixtures/policy.ts';

describe('a message delivered twice is processed once', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot();
  });
  afterAll(async () => {
    await bot?.close();
  });

  it('the same channel message id twice gives one set of replies', async () => {
    const who = customer();
    const first = await bot.chat.send(who, '你好', { messageId: 'm-1' });
    const second = await bot.chat.send(who, '你好', { messageId: 'm-1' });
    expect(first).toHaveLength(1);
    expect(second).toEqual([]);
  });

  it('five concurrent deliveries of one message open one case and send one reply', async () => {
    const who = customer();
    await bot.chat.send(who, '你好');
    const msg = {
      channel: 'web' as const,
      channelMessageId: `dup-${who.userId}`,
      chatId: who.chatId,
      chatKind: 'private' as const,
      sender: { id: who.userId },
      action: 'm:human',
      receivedAt: new Date(),
    };
    const results = await Promise.all(Array.from({ length: 5 }, () => bot.pipeline.receiveAndProcess(msg)));
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    const replies = await bot.chat.read(who.chatId);
    expect(replies.filter((r) => r.text.includes('已为您转接人工客服'))).toHaveLength(1);
    const stored = await bot.rt.database.db
      .select()
      .from(inboundMessages)
      .where(eq(inboundMessages.channelMessageId, msg.channelMessageId));
    expect(stored).toHaveLength(1);
    expect(stored[0]!.processedAt).not.toBeNull();
  });

  it('a message stored but never processed (a crash in between) is processed by the reconciler', async () => {
    const { storeInbound } = await import('../../../src/flows/engine/inbound.ts');
    const { reconcileOnce } = await import('../../../src/workers/maintenance.ts');
    const who = customer();
    await storeInbound(bot.rt.database.db, {
      channel: 'web',
      channelMessageId: `crash-${who.userId}`,
      chatId: who.chatId,
      chatKind: 'private',
      sender: { id: who.userId },
      text: '你好',
      receivedAt: new Date(Date.now() - 60_000),
    });
    expect(await bot.chat.read(who.chatId)).toEqual([]);
    await reconcileOnce({
      db: bot.rt.database.db,
      deps: bot.rt.deps,
      services: bot.rt.services,
      kicker: bot.rt.kicker,
      log: bot.rt.log,
    });
    expect((await bot.chat.read(who.chatId))[0]?.text).toContain('请选择要办理的业务');
  });
});

describe('deadlines', () => {
  let redisDir: string;
  let redisServer: Awaited<ReturnType<typeof ensureRedis>> | undefined;
  let bot: TestBot | undefined;

  afterEach(async () => {
    await bot?.close();
    bot = undefined;
  });
  afterAll(async () => {
    await redisServer?.stop();
    if (redisDir) rmSync(redisDir, { recursive: true, force: true });
  });

  it('still fire after Redis loses everything (FLUSHALL)', async () => {
    // A Redis of this test's own, so FLUSHALL cannot disturb other test files.
    redisDir = mkdtempSync(join(tmpdir(), 'gsb-redis-'));
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    redisServer = await ensureRedis({
      url: `redis://127.0.0.1:${port}`,
      dataDir: redisDir,
      log: pino({ level: 'silent' }),
    });
    bot = await startTestBot({
      workers: true,
      redisUrl: redisServer.url,
      maintenanceIntervalMs: 1000,
      policy: testPolicy({ deadlines: { human: { respond: '2s' } } }),
    }).catch(async (err) => {
      throw err;
    });
    const who = customer();
    await bot.chat.send(who, { action: 'm:human' });
    const [clock] = await bot.rt.database.db.select().from(deadlines);
    expect(clock!.state).toBe('running');
    const redis = new Redis(redisServer.url);
    await redis.flushall();
    await redis.quit();
    const breached = await eventually(
      async () => {
        const [row] = await bot!.rt.database.db.select().from(deadlines).where(eq(deadlines.id, clock!.id));
        return row?.breachedAt ? row : undefined;
      },
      15_000,
      'the deadline to fire',
    );
    // Fired no earlier than promised, and within the reconciler's period after it.
    expect(breached.breachedAt!.getTime()).toBeGreaterThanOrEqual(clock!.dueAt.getTime());
    const group = await eventually(async () => {
      const all = await bot!.chat.all('group-repair');
      return all.find((r) => r.text.includes('时限已到'));
    });
    expect(group.text).toContain(`工单 ${clock!.caseId}`);
  }, 40_000);

  it('a deadline job run twice escalates once', async () => {
    const { ManualClock } = await import('../../../src/flows/clock.ts');
    const clock = new ManualClock('2026-11-23T10:00:00+08:00');
    bot = await startTestBot({ clock });
    await bot.chat.send(customer(), { action: 'm:human' });
    const [row] = await bot.rt.database.db.select().from(deadlines);
    clock.set(new Date(row!.nextAt!.getTime() + 1000));
    const job = { deadlineId: row!.id, nextAtMs: row!.nextAt!.getTime() };
    const first = await fireDeadline(bot.rt.database.db, bot.rt.deps, job);
    const second = await fireDeadline(bot.rt.database.db, bot.rt.deps, job);
    expect(first.status).toBe('fired');
    expect(second.status).toBe('stale');
    const events = await bot.rt.database.db
      .select()
      .from(caseEvents)
      .where(eq(caseEvents.caseId, row!.caseId));
    expect(events.filter((e) => e.type === 'deadline_missed')).toHaveLength(1);
    // The next rung (the manager, an hour later by the demo policy) is scheduled, not yet taken.
    const [after] = await bot.rt.database.db.select().from(deadlines).where(eq(deadlines.id, row!.id));
    expect(after!.level).toBe(1);
    expect(after!.nextAt!.getTime() - row!.dueAt.getTime()).toBe(3600_000);
    // A timer that wakes too early does nothing.
    const early = await fireDeadline(bot.rt.database.db, bot.rt.deps, {
      deadlineId: row!.id,
      nextAtMs: after!.nextAt!.getTime(),
    });
    expect(early.status).toBe('early');
    clock.set(new Date(after!.nextAt!.getTime()));
    const rung2 = await fireDeadline(bot.rt.database.db, bot.rt.deps, {
      deadlineId: row!.id,
      nextAtMs: after!.nextAt!.getTime(),
    });
    expect(rung2.status).toBe('fired');
    const manager = await bot.chat.all('dm-zhao');
    expect(manager.filter((r) => r.text.includes('升级'))).toHaveLength(1);
  });
});

describe('the outbox', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot();
  });
  afterAll(async () => {
    await bot?.close();
  });

  async function queue(chatId: string, n: number): Promise<number[]> {
    const effects = emptyEffects();
    for (let i = 0; i < n; i++)
      await enqueueMessage(bot.rt.database.db, {
        channel: 'web',
        chatId,
        reply: { text: `m${i}` },
        now: new Date(),
        effects,
      });
    return effects.outboxIds;
  }

  it('keeps the order within a chat even when jobs run out of order and concurrently', async () => {
    const ids = await queue('order-chat', 12);
    const sent: string[] = [];
    const sender: ChannelSender = {
      async send({ reply }) {
        await new Promise((r) => setTimeout(r, Math.random() * 15));
        sent.push(reply.text);
        return {};
      },
    };
    const pending = [...ids].reverse();
    // Workers pick jobs in any order; a row waits while an earlier row of its chat is pending.
    for (let round = 0; round < 50 && pending.length > 0; round++) {
      const results = await Promise.all(
        pending.map((id) =>
          deliverOutbox(
            bot.rt.database.db,
            { web: sender },
            { outboxId: id, kicker: bot.rt.kicker, lastAttempt: false },
          ),
        ),
      );
      for (let i = results.length - 1; i >= 0; i--)
        if (results[i] === 'sent' || results[i] === 'done') pending.splice(i, 1);
    }
    expect(sent).toEqual(Array.from({ length: 12 }, (_, i) => `m${i}`));
  });

  it("wakes a commit's rows with one job per channel, and the reconciler's with one job per row", async () => {
    const effects = emptyEffects();
    for (const chatId of ['wake-a', 'wake-b', 'wake-a'])
      await enqueueMessage(bot.rt.database.db, {
        channel: 'web',
        chatId,
        reply: { text: 'x' },
        now: new Date(),
        effects,
      });
    const queue = bot.rt.queues.outbox.web;
    const before = await queue.count();
    await bot.rt.kicker.kick(effects);
    await bot.rt.kicker.kick(effects); // a wake-up sent twice is one job
    const ids = [...effects.outboxIds].sort((a, b) => a - b);
    const job = await queue.getJob(outboxBatchJobId(ids));
    expect(job?.data).toEqual({ outboxIds: ids });
    expect(await queue.count()).toBe(before + 1);
    await bot.rt.kicker.kick(effects, { perRow: true });
    for (const id of ids) expect((await queue.getJob(outboxJobId(id)))?.data).toEqual({ outboxId: id });
    expect(await queue.count()).toBe(before + 1 + ids.length);
  });

  it('retryLater gives a row a job of its own, or moves its sleeping job to when the row is due', async () => {
    const effects = emptyEffects();
    await enqueueMessage(bot.rt.database.db, {
      channel: 'web',
      chatId: 'retry-later',
      reply: { text: 'x' },
      now: new Date(),
      effects,
    });
    const [id] = effects.outboxIds;
    const queue = bot.rt.queues.outbox.web;
    await bot.rt.kicker.retryLater!('web', id!, 60_000);
    const job = await queue.getJob(outboxJobId(id!));
    expect(job?.data).toEqual({ outboxId: id });
    expect(await job!.getState()).toBe('delayed');
    const dueAt = async () =>
      Number((await bot.rt.redis.zscore(`${bot.rt.env.QUEUE_PREFIX}:outbox-web:delayed`, job!.id!)) ?? 0);
    const first = await dueAt();
    await bot.rt.kicker.retryLater!('web', id!, 5_000);
    // Sooner now (the score holds the due time in its upper bits).
    expect(await dueAt()).toBeLessThan(first);
    expect(await job!.getState()).toBe('delayed');
    await bot.rt.kicker.retryLater!('web', id!, 0);
    expect(await job!.getState()).toBe('waiting');
  });

  it('delivers a batch in order within each chat; a row that must wait takes the rest of its chat with it', async () => {
    const effects = emptyEffects();
    for (const [chatId, text] of [
      ['batch-x', 'x1'],
      ['batch-y', 'y1'],
      ['batch-x', 'x2'],
      ['batch-z', 'z1'],
      ['batch-x', 'x3'],
      ['batch-y', 'y2'],
    ])
      await enqueueMessage(bot.rt.database.db, {
        channel: 'web',
        chatId: chatId!,
        reply: { text: text! },
        now: new Date(),
        effects,
      });
    const [x1, y1, x2, z1, x3, y2] = effects.outboxIds;
    const sent: string[] = [];
    const refused = new Set(['x2', 'z1']);
    const sender: ChannelSender = {
      async send({ reply }) {
        await new Promise((r) => setTimeout(r, Math.random() * 10));
        if (refused.delete(reply.text))
          throw reply.text === 'x2'
            ? new SendError('429', { retryAfterMs: 3000 })
            : new Error('connection reset');
        sent.push(reply.text);
        return {};
      },
    };
    const requeued: [number, number][] = [];
    const run = () =>
      deliverBatch(
        bot.rt.database.db,
        { web: sender },
        {
          outboxIds: effects.outboxIds,
          kicker: bot.rt.kicker,
          log: pino({ level: 'silent' }),
          requeue: async (id, delayMs) => {
            requeued.push([id!, delayMs]);
          },
        },
      );
    expect(await run()).toEqual({ sent: 3, requeued: 3 });
    expect(sent.filter((t) => t.startsWith('y'))).toEqual(['y1', 'y2']);
    expect(sent.sort()).toEqual(['x1', 'y1', 'y2']);
    // x2 waits as told, x3 behind it; z1 is retried by a job of its own.
    expect(requeued.sort((a, b) => a[0] - b[0])).toEqual(
      [
        [x2!, 3000],
        [z1!, BATCH_RETRY_DELAY_MS],
        [x3!, WAITING_ROW_RECHECK_MS],
      ].sort((a, b) => a[0]! - b[0]!),
    );
    const [z] = await bot.rt.database.db.select().from(outbox).where(eq(outbox.id, z1!));
    expect(z).toMatchObject({ state: 'pending', attempts: 1 });
    // The same batch again (a retried job) sends only what is left, in order.
    requeued.length = 0;
    expect(await run()).toEqual({ sent: 3, requeued: 0 });
    expect(sent.slice(3).sort()).toEqual(['x2', 'x3', 'z1']);
    expect(sent.indexOf('x2')).toBeLessThan(sent.indexOf('x3'));
    const states = await bot.rt.database.db
      .select({ id: outbox.id, state: outbox.state })
      .from(outbox)
      .where(inArray(outbox.id, [x1!, y1!, x2!, z1!, x3!, y2!]));
    expect(states.every((r) => r.state === 'sent')).toBe(true);
  });

  it('a worker sends at most `concurrency` messages at once, however many batches it runs', async () => {
    let now = 0;
    let most = 0;
    const sent: string[] = [];
    const sender: ChannelSender = {
      async send({ chatId }) {
        most = Math.max(most, ++now);
        await new Promise((r) => setTimeout(r, 20));
        now--;
        sent.push(chatId);
        return {};
      },
    };
    const worker = startOutboxWorker({
      db: bot.rt.database.db,
      senders: { web: sender },
      kicker: bot.rt.kicker,
      connection: bot.rt.redis,
      prefix: bot.rt.env.QUEUE_PREFIX,
      log: pino({ level: 'silent' }),
      channel: 'web',
      concurrency: 3,
    });
    try {
      // Two commits, each waking the channel with one job for its six chats.
      for (const commit of ['p', 'q']) {
        const effects = emptyEffects();
        for (let i = 0; i < 6; i++)
          await enqueueMessage(bot.rt.database.db, {
            channel: 'web',
            chatId: `limit-${commit}${i}`,
            reply: { text: 'x' },
            now: new Date(),
            effects,
          });
        await bot.rt.kicker.kick(effects);
      }
      // (The worker also delivers what earlier tests left queued.)
      await eventually(async () => sent.filter((c) => c.startsWith('limit-')).length === 12 || undefined);
      expect(most).toBeLessThanOrEqual(3);
      expect(most).toBeGreaterThan(1);
    } finally {
      await worker.close();
    }
  });

  it('a row waiting behind others of its chat looks again later the further back it is', async () => {
    const ids = await queue('queue-chat', 4);
    const wait = async (id: number) =>
      deliverOutbox(
        bot.rt.database.db,
        { web: { send: async () => ({}) } },
        {
          outboxId: id,
          kicker: bot.rt.kicker,
          lastAttempt: false,
        },
      );
    expect(await wait(ids[1]!)).toEqual({ waitMs: WAITING_ROW_RECHECK_MS });
    expect(await wait(ids[3]!)).toEqual({ waitMs: 3 * WAITING_ROW_RECHECK_MS });
    expect(waitingRecheckMs(1000)).toBe(WAITING_ROW_RECHECK_MAX_MS);
  });

  it('a message that can never be delivered becomes a task to phone the customer', async () => {
    const { reportUndeliverable } = await import('../../../src/flows/outbox/undeliverable.ts');
    const who = customer();
    await bot.chat.send(who, { action: 'm:human' });
    const [row] = await bot.rt.database.db.select().from(outbox).where(eq(outbox.chatId, who.chatId));
    await bot.rt.database.db.update(outbox).set({ state: 'pending' }).where(eq(outbox.id, row!.id));
    const blocked: ChannelSender = {
      send: async () => {
        throw new SendError('48-hour window closed', { permanent: true });
      },
    };
    await bot.chat.read('group-repair');
    const result = await deliverOutbox(
      bot.rt.database.db,
      { web: blocked },
      {
        outboxId: row!.id,
        kicker: bot.rt.kicker,
        lastAttempt: false,
        onDead: async (tx, dead, reason) => {
          const effects = emptyEffects();
          await reportUndeliverable({ tx, deps: bot.rt.deps, effects, now: new Date() }, dead, reason);
          return effects;
        },
      },
    );
    expect(result).toBe('dead');
    const group = await bot.chat.read('group-repair');
    expect(group.map((r) => r.text).join('\n')).toMatch(
      /📞 给工单 \d+ 客户的消息无法送达（48-hour window closed）/,
    );
  });

  it('a delivery job run twice sends once', async () => {
    const [id] = await queue('twice-chat', 1);
    let calls = 0;
    const sender: ChannelSender = { send: async () => ({ externalId: String(++calls) }) };
    const opts = { outboxId: id!, kicker: bot.rt.kicker, lastAttempt: false };
    expect(await deliverOutbox(bot.rt.database.db, { web: sender }, opts)).toBe('sent');
    expect(await deliverOutbox(bot.rt.database.db, { web: sender }, opts)).toBe('done');
    expect(calls).toBe(1);
  });

  it('retries a failed send, honours retry-after, and gives up on a permanent error', async () => {
    const [a, b, c] = await queue('retry-chat', 3);
    const db = bot.rt.database.db;
    const flaky: ChannelSender = {
      send: async () => {
        throw new Error('connection reset');
      },
    };
    await expect(
      deliverOutbox(db, { web: flaky }, { outboxId: a!, kicker: bot.rt.kicker, lastAttempt: false }),
    ).rejects.toThrow('connection reset');
    const [rowA] = await db.select().from(outbox).where(eq(outbox.id, a!));
    expect(rowA).toMatchObject({ state: 'pending', attempts: 1 });
    const limited: ChannelSender = {
      send: async () => {
        throw new SendError('429', { retryAfterMs: 3000 });
      },
    };
    expect(
      await deliverOutbox(db, { web: limited }, { outboxId: a!, kicker: bot.rt.kicker, lastAttempt: false }),
    ).toEqual({
      waitMs: 3000,
    });
    const blocked: ChannelSender = {
      send: async () => {
        throw new SendError('bot was blocked by the user', { permanent: true });
      },
    };
    expect(
      await deliverOutbox(db, { web: blocked }, { outboxId: a!, kicker: bot.rt.kicker, lastAttempt: false }),
    ).toBe('dead');
    // A dead message no longer holds up the ones after it.
    const ok: ChannelSender = { send: async () => ({}) };
    expect(
      await deliverOutbox(db, { web: ok }, { outboxId: b!, kicker: bot.rt.kicker, lastAttempt: false }),
    ).toBe('sent');
    expect(
      await deliverOutbox(db, { web: ok }, { outboxId: c!, kicker: bot.rt.kicker, lastAttempt: false }),
    ).toBe('sent');
  });
});

describe('two workers on one outbox row', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot();
  });
  afterAll(async () => {
    await bot?.close();
  });

  it('the second waits while the first is sending, and nothing is sent twice', async () => {
    const effects = emptyEffects();
    await enqueueMessage(bot.rt.database.db, {
      channel: 'web',
      chatId: 'locked-chat',
      reply: { text: 'x' },
      now: new Date(),
      effects,
    });
    const [id] = effects.outboxIds;
    let calls = 0;
    let release!: () => void;
    const slow: ChannelSender = {
      send: () =>
        new Promise((resolve) => {
          calls++;
          release = () => resolve({});
        }),
    };
    const opts = { outboxId: id!, kicker: bot.rt.kicker, lastAttempt: false };
    const first = deliverOutbox(bot.rt.database.db, { web: slow }, opts);
    await eventually(async () => calls === 1 || undefined);
    expect(await deliverOutbox(bot.rt.database.db, { web: slow }, opts)).toEqual({ waitMs: 500 });
    release();
    expect(await first).toBe('sent');
    expect(await deliverOutbox(bot.rt.database.db, { web: slow }, opts)).toBe('done');
    expect(calls).toBe(1);
  });
});
