import { and, eq } from 'drizzle-orm';
import Fastify, { type FastifyInstance } from 'fastify';
import type { TelegramServer } from 'telegram-test-api/lib/telegramServer.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../../src/bot/server.ts';
import { type RunningTelegram, startTelegram, telegramSenders } from '../../../src/bot/telegram/index.ts';
import { inboundMessages, outbox } from '../../../src/db/schema/index.ts';
import type { Runtime } from '../../../src/runtime.ts';
import { webSender } from '../../../src/workers/senders.ts';
import { type RunningWorkers, startWorkers } from '../../../src/workers/start-workers.ts';
import { eventually, startTestBot, type TestBot } from '../../fixtures/harness.ts';
import { startEmulator, TEST_TOKEN, TgChat, withTelegramEnv } from '../../fixtures/telegram.ts';

const SECRET = 'webhook-secret-0123456789abcdef';
const HOOK_URL = 'https://bot.example.test/telegram/webhook';

let bot: TestBot;
let emulator: TelegramServer;
let rt: Runtime;
let app: FastifyInstance;
let telegram: RunningTelegram;
let workers: RunningWorkers;

beforeAll(async () => {
  [bot, emulator] = await Promise.all([startTestBot(), startEmulator()]);
  rt = withTelegramEnv(bot.rt, {
    TELEGRAM_API_ROOT: emulator.config.apiURL,
    TELEGRAM_WEBHOOK_URL: HOOK_URL,
    TELEGRAM_WEBHOOK_SECRET: SECRET,
  });
  app = await buildServer(rt, bot.pipeline);
  telegram = await startTelegram({ rt, pipeline: bot.pipeline, app });
  workers = startWorkers(rt, { web: webSender, ...telegramSenders(rt) }, { maintenanceIntervalMs: 60_000 });
});
afterAll(async () => {
  await telegram?.stop();
  await workers?.stop();
  await app?.close();
  await bot?.close();
  await emulator?.stop();
});

let updateId = 9000;
/** A real update as Telegram posts it: a private /start from user `userId`. */
function startUpdate(userId: number) {
  updateId++;
  return {
    update_id: updateId,
    message: {
      message_id: updateId,
      from: { id: userId, is_bot: false, first_name: 'Zhang', language_code: 'zh-hans' },
      chat: { id: userId, first_name: 'Zhang', type: 'private' },
      date: Math.floor(Date.now() / 1000),
      text: '/start',
      entities: [{ offset: 0, length: 6, type: 'bot_command' }],
    },
  };
}

const post = (body: unknown, secret?: string) =>
  app.inject({
    method: 'POST',
    url: '/telegram/webhook',
    headers: secret === undefined ? {} : { 'x-telegram-bot-api-secret-token': secret },
    payload: body as Record<string, unknown>,
  });

async function storedFor(chatId: number) {
  return rt.database.db
    .select()
    .from(inboundMessages)
    .where(and(eq(inboundMessages.channel, 'telegram'), eq(inboundMessages.chatId, String(chatId))));
}

async function outboxFor(chatId: number) {
  return rt.database.db
    .select()
    .from(outbox)
    .where(and(eq(outbox.channel, 'telegram'), eq(outbox.chatId, String(chatId))));
}

describe('webhook mode', () => {
  it('sets the webhook with its secret and asks only for messages and button presses', async () => {
    expect(telegram.mode).toBe('webhook');
    await telegram.ready;
    const hooks = (emulator as unknown as { webhooks: Record<string, Record<string, unknown>> }).webhooks;
    expect(hooks[TEST_TOKEN]).toMatchObject({
      url: HOOK_URL,
      secret_token: SECRET,
      allowed_updates: ['message', 'callback_query'],
    });
  });

  it('an update with the right secret is stored before the 200, and answered', async () => {
    const res = await post(startUpdate(3001), SECRET);
    expect(res.statusCode).toBe(200);
    // Stored by the time the 200 was sent.
    expect(await storedFor(3001)).toHaveLength(1);
    const chat = new TgChat(emulator, { chatId: 3001, userId: 3001 });
    expect((await chat.next()).text).toContain('请选择要办理的业务');
  });

  it('a wrong or missing secret gets 401 and nothing is stored', async () => {
    const wrong = await post(startUpdate(3002), `${SECRET.slice(0, -1)}x`);
    const short = await post(startUpdate(3002), 'x');
    const none = await post(startUpdate(3002));
    expect([wrong.statusCode, short.statusCode, none.statusCode]).toEqual([401, 401, 401]);
    expect(wrong.json()).toEqual({
      error: { code: 'unauthorized', message: 'missing or wrong secret token' },
    });
    expect(await storedFor(3002)).toEqual([]);
    // Something that is no update, even with the secret, is refused.
    expect((await post({ hello: 'world' }, SECRET)).statusCode).toBe(400);
  });

  it('the same update twice, then five times at once: stored once, answered once', async () => {
    const update = startUpdate(3003);
    expect((await post(update, SECRET)).statusCode).toBe(200);
    expect((await post(update, SECRET)).statusCode).toBe(200);
    const again = await Promise.all(Array.from({ length: 5 }, () => post(update, SECRET)));
    expect(again.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200]);
    expect(await storedFor(3003)).toHaveLength(1);
    await bot.pipeline.drain();
    expect(await outboxFor(3003)).toHaveLength(1);
    await eventually(async () => (await outboxFor(3003))[0]?.state === 'sent', 10_000, 'the reply sent');
    expect(new TgChat(emulator, { chatId: 3003, userId: 3003 }).all()).toHaveLength(1);
  });

  it('an update that cannot be stored is not acknowledged (Telegram sends it again)', async () => {
    const failing = Fastify();
    const down = await startTelegram({
      rt,
      pipeline: {
        receive: async () => {
          throw new Error('database unavailable');
        },
      },
      app: failing,
    });
    const res = await failing.inject({
      method: 'POST',
      url: '/telegram/webhook',
      headers: { 'x-telegram-bot-api-secret-token': SECRET },
      payload: startUpdate(3004),
    });
    expect(res.statusCode).toBe(500);
    await down.stop();
    await failing.close();
  });
});
