import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qrcodeValueToImageUrl, ScanStatus, types } from 'wechaty';
import { startWechaty, type WechatyChannel } from '../../../src/bot/wechat/wechaty/index.ts';
import { cases, inboundMessages, outbox, staffIdentities, teamChats } from '../../../src/db/schema/index.ts';
import { createLogger } from '../../../src/log.ts';
import { SendError, webSender } from '../../../src/workers/senders.ts';
import { type RunningWorkers, startWorkers } from '../../../src/workers/start-workers.ts';
import { eventually, startTestBot, type TestBot } from '../../fixtures/harness.ts';
import { testPolicy } from '../../fixtures/policy.ts';
import {
  BotTranscript,
  choiceNumber,
  deliver,
  logIn,
  type MockContact,
  type MockRoom,
  mockWechat,
} from '../../fixtures/wechaty-mock.ts';

const world = mockWechat();
let bot: TestBot;
let channel: WechatyChannel;
let workers: RunningWorkers;
let said: BotTranscript;
let me: MockContact;
let wang: MockContact;
let zhao: MockContact;
let customer: MockContact;
let room: MockRoom;
const errors: unknown[] = [];
const onUncaught = (err: unknown) => errors.push(err);

beforeAll(async () => {
  process.on('uncaughtException', onUncaught);
  // Only 王师傅 on duty, so the new case is his and the card @mentions him.
  bot = await startTestBot({ policy: testPolicy({ roster: [{ team: 'repair', staff: ['wang'] }] }) });
  channel = await startWechaty({
    rt: bot.rt,
    pipeline: bot.pipeline,
    puppet: world.puppet,
    sendIntervalMs: 0,
    // A restarted puppet gets 3 s to log in before the next restart: room for the test to log it in.
    reconnect: { minDelayMs: 100, loginTimeoutMs: 3000 },
    delivery: { intervalMs: 200 },
  });
  said = new BotTranscript(channel.bot);
  workers = startWorkers(bot.rt, { web: webSender, wechaty: channel.sender });
  await channel.started;
  me = world.mocker.createContact({ name: '燃气客服' });
  wang = world.mocker.createContact({ name: '王师傅' });
  zhao = world.mocker.createContact({ name: '赵经理' });
  customer = world.mocker.createContact({ name: '张女士' });
  room = world.mocker.createRoom({ topic: '抢修维修班', memberIdList: [me.id, wang.id, zhao.id] });
  await logIn(world, channel.bot, me);
  // The manager's WeChat account is known (as an administrator would register it); 王师傅
  // registers himself with a code below.
  await bot.rt.database.db
    .insert(staffIdentities)
    .values({ channel: 'wechaty', externalUserId: zhao.id, staffId: 'zhao' });
});

afterAll(async () => {
  await channel?.stop();
  await workers?.stop();
  await bot?.close();
  process.off('uncaughtException', onUncaught);
});

const db = () => bot.rt.database.db;
const to = (from: MockContact, text: string, where: MockContact | MockRoom = me) =>
  from.say(text, where === room && text.startsWith('@') ? [me] : []).to(where);

describe('wechaty: staff group and customer chat', () => {
  it('a manager binds the group with a code and registers a staff member', async () => {
    to(zhao, '/bindcode repair');
    const code = /\/bind ([A-Z0-9]+)/.exec((await said.next(zhao.id, '群绑定码')).text)![1]!;
    // In the group, with the WeChat @mention of the bot in front.
    to(zhao, `@燃气客服\u2005/bind ${code}`, room);
    await said.next(room.id, '本群已绑定到班组「抢修维修班」');
    const [bound] = await db()
      .select()
      .from(teamChats)
      .where(and(eq(teamChats.channel, 'wechaty'), eq(teamChats.teamId, 'repair')));
    expect(bound?.chatId).toBe(room.id);

    to(zhao, '/staffcode wang');
    const staffCode = /\/register ([A-Z0-9]+)/.exec((await said.next(zhao.id, '注册码')).text)![1]!;
    to(wang, `/register ${staffCode}`);
    await said.next(wang.id, '您已注册为「王师傅」');
  });

  it('customer reports a fault 1:1 → card in the group @mentions the assignee → take, arrive, resolve → result to the customer', async () => {
    to(customer, '你好');
    const menu = await said.next(customer.id, '请选择要办理的业务');
    to(customer, choiceNumber(menu.text, '报修'));
    const categories = await said.next(customer.id, '请选择故障类别');
    to(customer, choiceNumber(categories.text, '停气'));
    await said.next(customer.id, '请输入故障地址');
    to(customer, '西湖区文三路 100 号 3 幢 201');
    await said.next(customer.id, '请输入联系电话');
    to(customer, '13912345678');
    await said.next(customer.id, '请简要描述故障情况');
    to(customer, '灶具打不着火，气很小');
    const photos = await said.next(customer.id, '故障照片');
    to(customer, choiceNumber(photos.text, '跳过'));
    const time = await said.next(customer.id, '希望什么时间上门');
    to(customer, choiceNumber(time.text, '尽快'));
    await said.next(customer.id, '请确认报修信息');
    to(customer, '1');
    const opened = await said.next(customer.id, '报修已受理');
    const caseNo = Number(/工单号 (\d+)/.exec(opened.text)![1]);

    const card = await said.next(room.id, `工单 ${caseNo}`);
    expect(card.text.startsWith('@王师傅')).toBe(true);
    expect(card.text).toContain('139****5678');
    expect(card.text).toContain(`回复「接单 ${caseNo}」`);
    const [row] = await db().select().from(cases).where(eq(cases.id, caseNo));
    expect(row).toMatchObject({ channel: 'wechaty', chatId: customer.id, assigneeId: 'wang' });

    to(wang, `@燃气客服 接单 ${caseNo}`, room);
    await said.next(room.id, `王师傅 已接单：工单 ${caseNo}`);
    await said.next(customer.id, '王师傅');
    to(wang, `到达 ${caseNo}`, room);
    await said.next(room.id, `王师傅 已到达现场：工单 ${caseNo}`);
    await said.next(customer.id, '已到达现场');

    to(wang, `完成 ${caseNo}`, room);
    await said.next(room.id, `工单 ${caseNo} 完成登记：请填写故障原因`);
    to(wang, '减压阀堵塞', room);
    await said.next(room.id, '请填写处理过程');
    to(wang, '清洗减压阀，试火正常', room);
    await said.next(room.id, '请填写处理结果');
    to(wang, '已恢复正常供气', room);
    const firstTime = await said.next(room.id, '是否一次修复');
    to(wang, choiceNumber(firstTime.text, /^是$/), room);
    await said.next(room.id, `王师傅 已完成工单 ${caseNo}`);

    const result = await said.next(customer.id, `您的工单 ${caseNo} 已处理完毕`);
    expect(result.text).toContain('故障原因：减压阀堵塞');
    expect(result.text).toContain('处理结果：已恢复正常供气');
    const [closed] = await db().select().from(cases).where(eq(cases.id, caseNo));
    expect(closed).toMatchObject({ state: 'closed', fixedFirstTime: true });
  });

  it('a message the puppet delivers twice is handled once', async () => {
    const other = world.mocker.createContact({ name: '李先生' });
    const id = deliver(world, {
      talkerId: other.id,
      listenerId: me.id,
      type: types.Message.Text,
      text: '你好',
    });
    await said.next(other.id, '请选择要办理的业务');
    const before = said.in(other.id).length;
    world.puppet.emit('message', { messageId: id });
    // Per chat, messages are handled in order: once this one is answered the duplicate is done.
    to(other, '帮助');
    await said.next(other.id, '使用帮助');
    const rows = await db().select().from(inboundMessages).where(eq(inboundMessages.channelMessageId, id));
    expect(rows).toHaveLength(1);
    // Nothing was said between the first answer and the answer to 帮助.
    expect(said.in(other.id)[before]?.text).toContain('使用帮助');
  });

  it('an image from a customer is taken as a photo attachment', async () => {
    const other = world.mocker.createContact({ name: '陈女士' });
    const id = deliver(world, { talkerId: other.id, listenerId: me.id, type: types.Message.Image });
    await said.next(other.id, /./);
    const [row] = await db().select().from(inboundMessages).where(eq(inboundMessages.channelMessageId, id));
    expect((row!.payload as { attachments?: unknown }).attachments).toEqual([{ kind: 'image', ref: id }]);
  });

  it('a puppet error does not crash the process, and the bot keeps answering', async () => {
    expect(() => world.puppet.emit('error', { gerror: 'watchdog reset: heartbeat timeout' })).not.toThrow();
    to(customer, '你好');
    await said.next(customer.id, '请选择要办理的业务');
    expect(errors).toEqual([]);
  });

  it('logged out: sends wait (never lost), the puppet is restarted, and the backlog goes out after login', async () => {
    const restartsBefore = channel.restarts();
    await world.puppet.logout('kicked out on the phone');
    const err = await channel.sender
      .send({ outboxId: 0, chatId: customer.id, reply: { text: 'x' } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SendError);
    expect((err as SendError).opts.retryAfterMs).toBeGreaterThan(0);

    // Queued while offline, as a deadline worker would.
    const [row] = await db()
      .insert(outbox)
      .values({
        channel: 'wechaty',
        chatId: customer.id,
        payload: { text: '离线期间排队的消息' },
        createdAt: new Date(),
      })
      .returning();
    await bot.rt.kicker.kick({ outboxIds: [row!.id], deadlines: [] });

    await eventually(async () => channel.restarts() > restartsBefore, 10_000, 'a puppet restart');
    await logIn(world, channel.bot, me);
    await said.next(customer.id, '离线期间排队的消息');
    await eventually(
      async () => (await db().select().from(outbox).where(eq(outbox.id, row!.id)))[0]?.state === 'sent',
      5000,
      'the row marked sent',
    );
    expect(errors).toEqual([]);
  });
});

describe('wechaty: a puppet that does not log in', () => {
  it('built from WECHATY_PUPPET, start returns at once, a QR scan is only logged, sends wait', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gsb-wechaty-'));
    const lines: string[] = [];
    const log = createLogger('info', { write: (line: string) => void lines.push(line) });
    const env = { ...bot.rt.env, WECHATY_PUPPET: 'wechaty-puppet-mock', DATA_DIR: dataDir };
    const rt = { ...bot.rt, env: { ...env, LOG_LEVEL: 'info' as const }, log };
    const t0 = Date.now();
    const idle = await startWechaty({ rt, pipeline: bot.pipeline, delivery: false });
    try {
      expect(Date.now() - t0).toBeLessThan(2000);
      await idle.started;
      idle.bot.puppet.emit('scan', {
        qrcode: 'https://login.weixin.qq.com/l/test',
        status: ScanStatus.Waiting,
      });
      const scan = lines
        .map((l) => JSON.parse(l) as { msg: string; url?: string })
        .find((l) => l.msg.includes('scan this QR code'));
      expect(scan?.url).toBe(qrcodeValueToImageUrl('https://login.weixin.qq.com/l/test'));
      const err = await idle.sender
        .send({ outboxId: 0, chatId: 'wxid_someone', reply: { text: 'x' } })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SendError);
      expect((err as SendError).opts.retryAfterMs).toBeGreaterThan(0);
    } finally {
      await idle.stop();
    }
    await rm(dataDir, { recursive: true, force: true });
    expect(errors).toEqual([]);
  });
});
