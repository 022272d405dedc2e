import { and, asc, eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import type { TelegramServer } from 'telegram-test-api/lib/telegramServer.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../../src/bot/server.ts';
import {
  callbackKey,
  encodeCallback,
  type RunningTelegram,
  startTelegram,
  telegramSenders,
} from '../../../src/bot/telegram/index.ts';
import {
  cases,
  dialogues,
  inboundMessages,
  staffIdentities,
  teamChats,
} from '../../../src/db/schema/index.ts';
import type { Runtime } from '../../../src/runtime.ts';
import { webSender } from '../../../src/workers/senders.ts';
import { type RunningWorkers, startWorkers } from '../../../src/workers/start-workers.ts';
import { eventually, startTestBot, type TestBot } from '../../fixtures/harness.ts';
import {
  capturingLogger,
  startEmulator,
  TEST_TOKEN,
  TgChat,
  withTelegramEnv,
} from '../../fixtures/telegram.ts';

const GROUP = -100200;
const WANG = 2001;

let bot: TestBot;
let emulator: TelegramServer;
let rt: Runtime;
let app: FastifyInstance;
let telegram: RunningTelegram;
let workers: RunningWorkers;
const captured = capturingLogger('warn');

beforeAll(async () => {
  [bot, emulator] = await Promise.all([startTestBot(), startEmulator()]);
  rt = { ...withTelegramEnv(bot.rt, { TELEGRAM_API_ROOT: emulator.config.apiURL }), log: captured.log };
  // The group and the staff member are bound directly (the /bind and /register flows are separate).
  await rt.database.db
    .insert(teamChats)
    .values({ channel: 'telegram', chatId: String(GROUP), teamId: 'repair' });
  await rt.database.db
    .insert(staffIdentities)
    .values({ channel: 'telegram', externalUserId: String(WANG), staffId: 'wang' });
  app = await buildServer(rt, bot.pipeline);
  telegram = await startTelegram({ rt, pipeline: bot.pipeline, app, polling: { idleDelayMs: 50 } });
  // Real limits for groups and the whole bot; a looser per-chat window keeps the walk-through quick.
  workers = startWorkers(
    rt,
    { web: webSender, ...telegramSenders(rt, { limits: { perChat: { max: 3, windowMs: 1000 } } }) },
    { maintenanceIntervalMs: 60_000 },
  );
});
afterAll(async () => {
  await telegram?.stop();
  await workers?.stop();
  await app?.close();
  await bot?.close();
  await emulator?.stop();
});

describe('start-up', () => {
  it('setMyCommands unsupported by the Bot API is logged and the bot still starts and answers', async () => {
    expect(telegram.mode).toBe('polling');
    await telegram.ready;
    const warnings = captured.lines().map((l) => String(l.msg));
    expect(warnings).toContain('telegram setMyCommands (zh) failed; carrying on without it');
    expect(warnings).toContain('telegram setMyCommands (en) failed; carrying on without it');
    const someone = new TgChat(emulator, { chatId: 1999, userId: 1999 });
    await someone.command('/help');
    expect((await someone.next()).text).toContain('使用帮助');
  });
});

describe('a customer in a private chat and the repair group', () => {
  it('reports a fault with buttons; the group takes, arrives and resolves by button; the customer rates', async () => {
    const customer = new TgChat(emulator, { chatId: 1001, userId: 1001 });
    const group = new TgChat(emulator, { chatId: GROUP, userId: WANG, type: 'supergroup' });

    await customer.command('/start');
    const menu = await customer.next('请选择要办理的业务');
    expect(menu.buttons.map((b) => b.text)).toContain('报修/报警');
    for (const b of menu.buttons) expect(Buffer.byteLength(b.callback_data)).toBeLessThanOrEqual(64);
    await customer.press(menu, '报修/报警');
    const category = await customer.next('请选择故障类别');
    expect(category.buttons.map((b) => b.text)).toContain('取消');
    await customer.press(category, '停气/无气/气小');
    await customer.next('请输入故障地址');
    await customer.say('西湖区文三路 100 号 3 幢 201');
    await customer.next('请输入联系电话');
    await customer.say('13912345678');
    await customer.next('请简要描述故障情况');
    await customer.say('灶具打不着火，气很小');
    const photos = await customer.next('如方便，请发送故障照片');
    await customer.press(photos, '跳过');
    const time = await customer.next('希望什么时间上门');
    await customer.press(time, '尽快');
    const confirm = await customer.next('请确认报修信息');
    expect(confirm.text).toContain('停气/无气/气小');
    await customer.press(confirm, '确认提交');
    const opened = await customer.next('报修已受理');
    const caseNo = Number(/工单号 (\d+)/.exec(opened.text)?.[1]);
    expect(caseNo).toBeGreaterThan(0);

    // The group gets the masked card with a 接单 button.
    const card = await group.next(`工单 ${caseNo}`);
    expect(card.text).toContain('139****5678');
    expect(card.text).not.toContain('13912345678');
    expect(card.buttons.map((b) => b.text)).toEqual(['接单']);

    await group.press(card, '接单');
    await group.next(`已接单：工单 ${caseNo}`);
    await customer.next('接单');
    // The card is edited in place: same message, new state and buttons.
    const taken = await waitForCard(group, card.messageId, (c) => c.buttons.some((b) => b.text === '到达'));
    expect(taken.text).toContain('处理中');
    expect(taken.buttons.map((b) => b.text)).toEqual(['到达', '完成']);

    await group.press(taken, '到达');
    await customer.next('已到达现场');
    const arrived = await waitForCard(group, card.messageId, (c) => c.text.includes('已到场'));
    expect(arrived.buttons.map((b) => b.text)).toEqual(['完成']);

    await group.press(arrived, '完成');
    await group.next('请填写故障原因');
    await group.say('减压阀堵塞');
    await group.next('请填写处理过程');
    await group.say('清洗减压阀，试火正常');
    await group.next('请填写处理结果');
    await group.say('已恢复正常供气');
    const firstTime = await group.next('是否一次修复');
    await group.press(firstTime, '是');

    const result = await customer.next('已处理完毕');
    expect(result.text).toContain('故障原因：减压阀堵塞');
    await customer.press(result, '非常满意');
    await customer.next('感谢您的评价');
    const closed = await waitForCard(group, card.messageId, (c) => c.buttons.length === 0);
    expect(closed.text).toContain('已办结');

    const [row] = await rt.database.db.select().from(cases).where(eq(cases.id, caseNo));
    expect(row).toMatchObject({ state: 'closed', assigneeId: 'wang', rating: 5, channel: 'telegram' });
    // Only one card message was ever posted in the group for this case.
    expect(group.all().filter((m) => m.text.startsWith(`【报修】工单 ${caseNo}`))).toHaveLength(1);
  });

  it('a forged or unsigned button payload gets "button expired" and changes nothing', async () => {
    const customer = new TgChat(emulator, { chatId: 1002, userId: 1002 });
    await customer.command('/menu');
    const menu = await customer.next('请选择要办理的业务');
    await customer.press(menu, '报修/报警');
    const category = await customer.next('请选择故障类别');
    const before = await dialogueOf('1002');
    expect(before?.step).toBe('category');

    await customer.callback('c:repair:category:nogas', category.messageId);
    await customer.next('这个按钮已失效');
    await customer.callback('c:repair:category:nogas|AAAAAAAA', category.messageId);
    await customer.next('这个按钮已失效');
    // A genuine button of the group, replayed in a private chat.
    const groupButton = encodeCallback(callbackKey(TEST_TOKEN), String(GROUP), 'c:repair:category:nogas');
    await customer.callback(groupButton.data, category.messageId);
    await customer.next('这个按钮已失效');
    const after = await dialogueOf('1002');
    expect(after).toMatchObject({ step: 'category', data: before!.data });

    // In the group a forged take does nothing either.
    const casesBefore = await rt.database.db.select().from(cases);
    const staff = new TgChat(emulator, { chatId: GROUP, userId: WANG, type: 'supergroup' });
    await staff.callback(`case:${casesBefore[0]!.id}:take`, 1);
    // Stored and handled as "invalid" (four presses in all), and nothing changed.
    await eventually(
      async () => (await processedActions('invalid')) === 4,
      10_000,
      'the forged press handled',
    );
    expect(await rt.database.db.select().from(cases)).toEqual(casesBefore);
  });

  it('a photo arrives as an image attachment: the largest size', async () => {
    const customer = new TgChat(emulator, { chatId: 1004, userId: 1004 });
    await customer.say('家里没气了');
    await customer.next('请输入故障地址');
    await customer.say('西湖区文三路 1 号');
    await customer.next('请输入联系电话');
    await customer.say('13912345678');
    await customer.next('请简要描述故障情况');
    await customer.say('完全没气');
    await customer.next('如方便，请发送故障照片');
    await customer.say('', {
      caption: '表前阀',
      photo: [
        { file_id: 'photo-small', file_unique_id: 's', width: 90, height: 90 },
        { file_id: 'photo-large', file_unique_id: 'l', width: 1280, height: 1280 },
      ],
    });
    await customer.next('已收到 1 张照片');
    const rows = await rt.database.db
      .select()
      .from(inboundMessages)
      .where(and(eq(inboundMessages.channel, 'telegram'), eq(inboundMessages.chatId, '1004')))
      .orderBy(asc(inboundMessages.id));
    expect(rows.at(-1)!.payload).toMatchObject({
      text: '表前阀',
      attachments: [{ kind: 'image', ref: 'photo-large' }],
    });
  });

  it('an English-speaking user gets the English menu and English buttons', async () => {
    const en = new TgChat(emulator, { chatId: 1003, userId: 1003, lang: 'en-US' });
    await en.command('/start');
    const menu = await en.next('customer service');
    expect(menu.text).toContain('What can we do for you?');
    expect(menu.buttons.map((b) => b.text)).toContain('Help');
  });
});

async function waitForCard(
  chat: TgChat,
  messageId: number,
  ok: (c: ReturnType<TgChat['message']>) => boolean,
) {
  const until = Date.now() + 15_000;
  for (;;) {
    const card = chat.message(messageId);
    if (ok(card)) return card;
    if (Date.now() > until) throw new Error(`card ${messageId} never became as expected: ${card.text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function dialogueOf(userId: string) {
  const [row] = await rt.database.db
    .select()
    .from(dialogues)
    .where(and(eq(dialogues.channel, 'telegram'), eq(dialogues.userId, userId)));
  return row;
}

async function processedActions(action: string) {
  const rows = await rt.database.db
    .select()
    .from(inboundMessages)
    .where(eq(inboundMessages.channel, 'telegram'));
  return rows.filter((r) => r.processedAt && (r.payload as { action?: string }).action === action).length;
}
