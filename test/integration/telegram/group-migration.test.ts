import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callbackKey } from '../../../src/bot/telegram/callback-data.ts';
import { createTelegramSender } from '../../../src/bot/telegram/sender.ts';
import { type TgUpdate, updateToInbound } from '../../../src/bot/telegram/updates.ts';
import { outbox, staffIdentities, teamChats } from '../../../src/db/schema/index.ts';
import { emptyEffects } from '../../../src/flows/engine/effects.ts';
import { enqueueMessage } from '../../../src/flows/outbox/enqueue.ts';
import { createLogger } from '../../../src/log.ts';
import { deliverOutbox, MOVED_CHAT_RETRY_MS } from '../../../src/workers/deliver-outbox.ts';
import { startTestBot, type TestBot } from '../../fixtures/harness.ts';
import { type FakeCall, startFakeBotApi, TEST_TOKEN } from '../../fixtures/telegram.ts';

// Telegram upgrades a group to a supergroup (when it grows, or an admin changes some settings):
// the group gets a new chat id and the old one answers every send with a 400 naming the new id.
const WANG = 2001;
let bot: TestBot;
let api: Awaited<ReturnType<typeof startFakeBotApi>>;
/** Chats that have become supergroups: old id → new id. */
const upgraded = new Map<string, number>();
let nextMessageId = 100;

beforeAll(async () => {
  bot = await startTestBot();
  await bot.rt.database.db
    .insert(staffIdentities)
    .values({ channel: 'telegram', externalUserId: String(WANG), staffId: 'wang' });
  api = await startFakeBotApi((call: FakeCall) => {
    const moved = upgraded.get(String(call.body.chat_id));
    if (moved)
      return {
        status: 400,
        body: {
          ok: false,
          error_code: 400,
          description: 'Bad Request: group chat was upgraded to a supergroup chat',
          parameters: { migrate_to_chat_id: moved },
        },
      };
    return { body: { ok: true, result: { message_id: ++nextMessageId, date: 0, chat: { id: 1 } } } };
  });
});
afterAll(async () => {
  await api?.close();
  await bot?.close();
});

const db = () => bot.rt.database.db;

async function bind(chatId: string) {
  await db().delete(teamChats).where(eq(teamChats.teamId, 'repair'));
  await db().insert(teamChats).values({ channel: 'telegram', chatId, teamId: 'repair' });
}
const boundChat = async () =>
  (
    await db()
      .select()
      .from(teamChats)
      .where(and(eq(teamChats.teamId, 'repair'), eq(teamChats.channel, 'telegram')))
  ).map((r) => r.chatId);
const rowsOf = (chatId: string) =>
  db()
    .select()
    .from(outbox)
    .where(and(eq(outbox.channel, 'telegram'), eq(outbox.chatId, chatId)))
    .orderBy(asc(outbox.id));

/** The bot's sender on a fake Bot API; the per-chat limit loosened so a test need not wait a second a message. */
const senderOn = (apiRoot: string) =>
  createTelegramSender({
    token: TEST_TOKEN,
    apiRoot,
    redis: bot.rt.redis,
    prefix: bot.rt.env.QUEUE_PREFIX,
    log: createLogger('silent'),
    limits: { perChat: { max: 10, windowMs: 1000 } },
  });

async function queue(chatId: string, texts: string[]): Promise<number[]> {
  const effects = emptyEffects();
  for (const text of texts)
    await enqueueMessage(db(), { channel: 'telegram', chatId, reply: { text }, now: new Date(), effects });
  return effects.outboxIds;
}

describe('sending to a group that became a supergroup', () => {
  it('moves the binding and the waiting messages to the new id, and sends them there in order', async () => {
    await bind('-4001');
    upgraded.set('-4001', -1004001);
    const ids = await queue('-4001', ['工单 1', '工单 2', '工单 3']);
    const sender = senderOn(api.apiRoot);
    const deliver = (outboxId: number) =>
      deliverOutbox(db(), { telegram: sender }, { outboxId, kicker: bot.rt.kicker, lastAttempt: false });
    const calls = api.calls.length;

    // The first try meets the 400: nothing is given up, the row is tried again shortly.
    expect(await deliver(ids[0]!)).toEqual({ waitMs: MOVED_CHAT_RETRY_MS });
    expect(await boundChat()).toEqual(['-1004001']);
    expect(await rowsOf('-4001')).toEqual([]);
    expect((await rowsOf('-1004001')).map((r) => [r.id, r.state])).toEqual(ids.map((id) => [id, 'pending']));

    for (const id of ids) expect(await deliver(id)).toBe('sent');
    const sent = api.calls.slice(calls).filter((c) => c.method === 'sendMessage');
    expect(sent.map((c) => [c.body.chat_id, c.body.text])).toEqual([
      ['-4001', '工单 1'],
      ['-1004001', '工单 1'],
      ['-1004001', '工单 2'],
      ['-1004001', '工单 3'],
    ]);
    // A job run again after the move finds the row sent.
    expect(await deliver(ids[0]!)).toBe('done');
  });

  it('any other 400 still gives the message up', async () => {
    upgraded.clear();
    const [id] = await queue('-4002', ['x']);
    const failing = await startFakeBotApi(() => ({
      status: 400,
      body: { ok: false, error_code: 400, description: 'Bad Request: chat not found' },
    }));
    try {
      const dead = senderOn(failing.apiRoot);
      expect(
        await deliverOutbox(
          db(),
          { telegram: dead },
          { outboxId: id!, kicker: bot.rt.kicker, lastAttempt: false },
        ),
      ).toBe('dead');
    } finally {
      await failing.close();
    }
  });
});

describe("Telegram's notices of the upgrade", () => {
  const key = callbackKey(TEST_TOKEN);
  let updateId = 9000;
  const notice = (chat: { id: number; type: string }, extra: Record<string, unknown>): TgUpdate => ({
    update_id: ++updateId,
    message: { message_id: 1, date: 0, chat, from: { id: WANG, first_name: '王' }, ...extra },
  });
  const receive = async (update: TgUpdate) => {
    const converted = updateToInbound(update, { callbackKey: key });
    if (!converted) throw new Error('update not converted');
    return bot.pipeline.receiveAndProcess(converted.msg);
  };

  it('move the binding and the waiting messages; the team is told once, in the new chat', async () => {
    await bind('-5001');
    // The team's group on another channel stays where it is and hears nothing of it.
    await db()
      .insert(teamChats)
      .values({ channel: 'wechaty', chatId: 'room-repair@chatroom', teamId: 'repair' });
    const waiting = await queue('-5001', ['等待中的卡片']);
    const old = { id: -5001, type: 'group' };
    const moved = { id: -1005001, type: 'supergroup' };

    await receive(notice(old, { migrate_to_chat_id: -1005001 }));
    expect(await boundChat()).toEqual(['-1005001']);
    const there = await rowsOf('-1005001');
    expect(there.map((r) => r.id)).toEqual([waiting[0], expect.any(Number)]);
    expect((there[1]!.payload as { text: string }).text).toContain('本群已升级为超级群组');

    // The notice in the new supergroup, and Telegram delivering the first one again: nothing more.
    await receive(notice(moved, { migrate_from_chat_id: -5001 }));
    const again = notice(old, { migrate_to_chat_id: -1005001 });
    await receive(again);
    await receive(again);
    expect((await rowsOf('-1005001')).length).toBe(2);
    expect(await rowsOf('-5001')).toEqual([]);
    const other = await db().select().from(outbox).where(eq(outbox.chatId, 'room-repair@chatroom'));
    expect(other).toEqual([]);
    const [wechatyGroup] = await db()
      .select()
      .from(teamChats)
      .where(and(eq(teamChats.channel, 'wechaty'), eq(teamChats.teamId, 'repair')));
    expect(wechatyGroup?.chatId).toBe('room-repair@chatroom');

    // Staff commands from the new chat are the team's.
    await receive({
      update_id: ++updateId,
      message: { message_id: 2, date: 0, chat: moved, from: { id: WANG, first_name: '王' }, text: '/help' },
    });
    const replies = await rowsOf('-1005001');
    expect((replies.at(-1)!.payload as { text: string }).text).toContain('班组命令');
  });

  it('of a group no team is bound to change nothing and say nothing', async () => {
    const before = await boundChat();
    await receive(notice({ id: -6001, type: 'group' }, { migrate_to_chat_id: -1006001 }));
    await receive(notice({ id: -1006001, type: 'supergroup' }, { migrate_from_chat_id: -6001 }));
    expect(await boundChat()).toEqual(before);
    expect(await rowsOf('-1006001')).toEqual([]);
    expect(await rowsOf('-6001')).toEqual([]);
  });
});
