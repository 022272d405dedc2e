import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTelegramApi } from '../../../src/bot/telegram/api.ts';
import { callbackKey } from '../../../src/bot/telegram/callback-data.ts';
import { createUpdateHandler } from '../../../src/bot/telegram/inbound.ts';
import { telegramKeyBase } from '../../../src/bot/telegram/keys.ts';
import { startPolling } from '../../../src/bot/telegram/polling.ts';
import { DEFAULT_RATE_LIMITS, type RateLimits } from '../../../src/bot/telegram/rate-limit.ts';
import { createTelegramSender } from '../../../src/bot/telegram/sender.ts';
import type { TgUpdate } from '../../../src/bot/telegram/updates.ts';
import type { InboundMessage, Reply } from '../../../src/flows/engine/message.ts';
import { createLogger } from '../../../src/log.ts';
import { SendError } from '../../../src/workers/senders.ts';
import { eventually } from '../../fixtures/harness.ts';
import { type FakeCall, startFakeBotApi, TEST_TOKEN } from '../../fixtures/telegram.ts';
import { testRedisUrl } from '../../fixtures/urls.ts';

const log = createLogger('silent');
let redis: Redis;
const base = `gsbt${randomBytes(4).toString('hex')}`;
/** Each test its own key space: the bot-wide window must not carry over from one test to the next. */
let prefix = base;
let outboxId = 1;

beforeAll(() => {
  redis = new Redis(testRedisUrl());
});
afterAll(async () => {
  const keys = await redis.keys(`${base}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

let api: Awaited<ReturnType<typeof startFakeBotApi>> | null = null;
afterEach(async () => {
  await api?.close();
  api = null;
});

let nextMessageId = 100;
const ok = (result: unknown) => ({ body: { ok: true, result } });
const sent = (call: FakeCall) =>
  ok({ message_id: ++nextMessageId, date: 0, chat: { id: Number(call.body.chat_id) }, text: call.body.text });
const fail = (code: number, description: string, parameters?: Record<string, unknown>) => ({
  status: code,
  body: { ok: false, error_code: code, description, ...(parameters ? { parameters } : {}) },
});

async function senderOn(
  answer: (call: FakeCall) => { status?: number; body: unknown },
  limits?: Partial<RateLimits>,
) {
  api = await startFakeBotApi(answer);
  prefix = `${base}x${outboxId}`;
  return createTelegramSender({ token: TEST_TOKEN, apiRoot: api.apiRoot, redis, prefix, log, limits });
}

const chat = () => String(10_000 + Math.floor(Math.random() * 1e6));
const deliver = (chatId: string, reply: Reply, previousExternalId?: string) => ({
  outboxId: outboxId++,
  chatId,
  reply,
  previousExternalId,
});
async function sendError(p: Promise<unknown>): Promise<SendError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SendError);
    return err as SendError;
  }
  throw new Error('expected a SendError');
}

describe('the Telegram sender', () => {
  it('a 429 with retry_after 2 becomes a SendError that waits 2000 ms, and holds the chat', async () => {
    const sender = await senderOn((call) =>
      call.method === 'sendMessage'
        ? fail(429, 'Too Many Requests: retry after 2', { retry_after: 2 })
        : ok(true),
    );
    const to = chat();
    const err = await sendError(sender.send(deliver(to, { text: '您好' })));
    expect(err.opts).toEqual({ retryAfterMs: 2000 });
    // Every process now waits for this chat without asking Telegram.
    const held = await sendError(sender.send(deliver(to, { text: '您好' })));
    expect(held.opts.retryAfterMs).toBeGreaterThan(1000);
    expect(api!.calls.filter((c) => c.method === 'sendMessage')).toHaveLength(1);
  });

  it('a burst to one chat waits (retryAfterMs > 0) without calling the API', async () => {
    const sender = await senderOn(sent);
    const to = chat();
    expect(await sender.send(deliver(to, { text: '1' }))).toEqual({ externalId: String(nextMessageId) });
    const err = await sendError(sender.send(deliver(to, { text: '2' })));
    expect(err.opts.retryAfterMs).toBeGreaterThan(0);
    expect(err.opts.retryAfterMs).toBeLessThanOrEqual(1100);
    expect(api!.calls).toHaveLength(1);
    // Another chat is not held up.
    await sender.send(deliver(chat(), { text: '3' }));
  });

  it('a group gets at most 18 messages a minute', async () => {
    const sender = await senderOn(sent, {
      perChat: { max: 100, windowMs: 1000 },
      globalBurst: { max: 100, windowMs: 1000 },
    });
    const group = `-100${chat()}`;
    // The default counts a group's 18 over 62 s: a send delayed on its way must not make 19 in
    // Telegram's minute.
    expect(DEFAULT_RATE_LIMITS.perGroup).toEqual({ max: 18, windowMs: 62_000 });
    for (let i = 0; i < 18; i++) await sender.send(deliver(group, { text: `m${i}` }));
    const err = await sendError(sender.send(deliver(group, { text: 'one too many' })));
    expect(err.opts.retryAfterMs).toBeGreaterThan(50_000);
    expect(api!.calls).toHaveLength(18);
  });

  it("the bot's messages are spread over each second, not sent in one burst", async () => {
    expect(DEFAULT_RATE_LIMITS.globalBurst).toEqual({ max: 5, windowMs: 200 });
    expect(DEFAULT_RATE_LIMITS.global).toEqual({ max: 25, windowMs: 1000 });
    // A longer window than the default's, so that a slow machine cannot outrun it.
    const sender = await senderOn(sent, { globalBurst: { max: 5, windowMs: 5000 } });
    for (let i = 0; i < 5; i++) await sender.send(deliver(chat(), { text: `m${i}` }));
    const err = await sendError(sender.send(deliver(chat(), { text: 'sixth' })));
    expect(err.opts.retryAfterMs).toBeGreaterThan(0);
    expect(err.opts.retryAfterMs).toBeLessThanOrEqual(5000);
    expect(api!.calls).toHaveLength(5);
  });

  it('a user who blocked the bot (403) fails permanently; a server error is retried', async () => {
    let status = 403;
    const sender = await senderOn(() =>
      status === 403 ? fail(403, 'Forbidden: bot was blocked by the user') : fail(502, 'Bad Gateway'),
    );
    expect((await sendError(sender.send(deliver(chat(), { text: 'x' })))).opts).toEqual({ permanent: true });
    status = 502;
    expect((await sendError(sender.send(deliver(chat(), { text: 'x' })))).opts).toEqual({});
  });

  it('a card with a previous message is edited in place; "not modified" counts as done', async () => {
    let editAnswer = ok(true) as { status?: number; body: unknown };
    const sender = await senderOn((call) => (call.method === 'editMessageText' ? editAnswer : sent(call)), {
      perChat: { max: 100, windowMs: 1000 },
    });
    const group = `-100${chat()}`;
    const card: Reply = {
      text: '【报修】工单 100023\n状态：处理中',
      card: { title: '【报修】工单 100023', lines: [] },
      caseId: 100023,
      choices: [
        { label: '到达', action: 'case:100023:arrive' },
        { label: '完成', action: 'case:100023:resolve' },
      ],
    };
    expect(await sender.send(deliver(group, card, '77'))).toEqual({ externalId: '77' });
    const edit = api!.calls.at(-1)!;
    expect(edit.method).toBe('editMessageText');
    expect(edit.body).toMatchObject({ chat_id: group, message_id: 77, text: card.text });
    const markup = edit.body.reply_markup as { inline_keyboard: { text: string; callback_data: string }[][] };
    expect(markup.inline_keyboard.flat().map((b) => b.text)).toEqual(['到达', '完成']);
    expect(markup.inline_keyboard.flat()[0]!.callback_data).toMatch(/^case:100023:arrive\|[\w-]{8}$/);

    editAnswer = fail(400, 'Bad Request: message is not modified: specified new message content is the same');
    expect(await sender.send(deliver(group, card, '77'))).toEqual({ externalId: '77' });
    // A closed case: the buttons are removed.
    editAnswer = ok(true);
    await sender.send(deliver(group, { ...card, choices: [] }, '77'));
    expect(api!.calls.at(-1)!.body.reply_markup).toEqual({ inline_keyboard: [] });
    expect(api!.calls.filter((c) => c.method === 'sendMessage')).toEqual([]);
  });

  it('a card whose message is gone or too old is sent anew', async () => {
    const sender = await senderOn(
      (call) =>
        call.method === 'editMessageText' ? fail(400, 'Bad Request: message to edit not found') : sent(call),
      { perChat: { max: 100, windowMs: 1000 } },
    );
    const card: Reply = { text: '工单', card: { title: '工单', lines: [] }, caseId: 1 };
    const result = await sender.send(deliver(`-100${chat()}`, card, '77'));
    expect(result).toEqual({ externalId: String(nextMessageId) });
    expect(api!.calls.map((c) => c.method)).toEqual(['editMessageText', 'sendMessage']);
  });

  it('a long text is split; a retry after a wait sends only the parts not yet sent', async () => {
    const sender = await senderOn(sent, { perChat: { max: 1, windowMs: 300 } });
    const to = chat();
    const reply: Reply = {
      text: `${'气'.repeat(4000)}\n${'表'.repeat(2000)}`,
      quick: [{ label: '取消', action: 'g:cancel' }],
    };
    const d = deliver(to, reply);
    const err = await sendError(sender.send(d));
    expect(err.opts.retryAfterMs).toBeGreaterThan(0);
    expect(api!.calls).toHaveLength(1);
    const result = await eventually(() => sender.send(d).catch(() => undefined), 5000, 'the second part');
    const texts = api!.calls.map((c) => c.body.text as string);
    expect(texts).toEqual(['气'.repeat(4000), '表'.repeat(2000)]);
    expect(api!.calls[0]!.body.reply_markup).toBeUndefined();
    expect(api!.calls[1]!.body.reply_markup).toBeDefined();
    expect(result).toEqual({ externalId: String(nextMessageId) });
  });

  it('an action too long for a button is stored in Redis and resolved when pressed', async () => {
    const sender = await senderOn(sent);
    const to = chat();
    const action = `c:repair:category:${'a'.repeat(40)}`;
    await sender.send(deliver(to, { text: '请选择', choices: [{ label: '很长的类别', action }] }));
    const markup = api!.calls[0]!.body.reply_markup as { inline_keyboard: { callback_data: string }[][] };
    const data = markup.inline_keyboard[0]![0]!.callback_data;
    expect(Buffer.byteLength(data)).toBeLessThanOrEqual(64);
    expect(data.startsWith('#')).toBe(true);

    const received: InboundMessage[] = [];
    const handle = createUpdateHandler({
      pipeline: {
        receive: async (msg) => {
          received.push(msg);
          return { id: 1, duplicate: false };
        },
      },
      telegram: createTelegramApi(TEST_TOKEN, api!.apiRoot),
      redis,
      keyBase: telegramKeyBase(prefix, TEST_TOKEN),
      callbackKey: callbackKey(TEST_TOKEN),
      botUsername: () => 'gas_bot',
      expiredText: () => 'expired',
      log,
    });
    const press = (callbackData: string): TgUpdate => ({
      update_id: 1,
      callback_query: {
        id: 'q1',
        from: { id: Number(to), first_name: 'A' },
        message: { message_id: 1, chat: { id: Number(to), type: 'private' } },
        data: callbackData,
      },
    });
    await handle(press(data));
    expect(received[0]!.action).toBe(action);
    // A reference nobody stored (expired, or made up) is refused like a forged button.
    await redis.del(`${telegramKeyBase(prefix, TEST_TOKEN)}:cb:${data.slice(1, 17)}`);
    await handle(press(data));
    expect(received[1]!.action).toBe('invalid');
    await eventually(async () => api!.calls.filter((c) => c.method === 'answerCallbackQuery').length === 2);
    expect(api!.calls.filter((c) => c.method === 'answerCallbackQuery').map((c) => c.body)).toEqual([
      { callback_query_id: 'q1' },
      { callback_query_id: 'q1', text: 'expired' },
    ]);
  });
});

describe('long polling', () => {
  it('moves the offset only past stored updates, backs off on errors and stops cleanly', async () => {
    const offsets: (number | undefined)[] = [];
    let first = true;
    api = await startFakeBotApi((call) => {
      if (call.method !== 'getUpdates') return ok(true);
      if (first) {
        first = false;
        return fail(502, 'Bad Gateway');
      }
      const offset = call.body.offset as number | undefined;
      offsets.push(offset);
      const pending = [10, 11, 12].filter((id) => offset === undefined || id >= offset);
      return ok(pending.map((id) => ({ update_id: id })));
    });
    const stored: number[] = [];
    let failOnce = true;
    const polling = startPolling({
      telegram: createTelegramApi(TEST_TOKEN, api.apiRoot),
      log,
      idleDelayMs: 10,
      backoffMs: { min: 10, max: 50 },
      handle: async (u) => {
        if (u.update_id === 11 && failOnce) {
          failOnce = false;
          throw new Error('database unavailable');
        }
        stored.push(u.update_id);
      },
    });
    await eventually(async () => offsets.includes(13), 5000, 'offset 13');
    await polling.stop();
    expect(stored).toEqual([10, 11, 12]);
    // The failed update was asked for again: the offset stayed at 11 until it was stored.
    expect(offsets.slice(0, 3)).toEqual([undefined, 11, 13]);
    const asked = api.calls.filter((c) => c.method === 'getUpdates');
    expect(asked[1]!.body).toMatchObject({ allowed_updates: ['message', 'callback_query'], limit: 100 });
  });
});
