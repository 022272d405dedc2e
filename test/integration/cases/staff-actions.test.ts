import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caseEvents, cases, deadlines } from '../../../src/db/schema/index.ts';
import { ManualClock } from '../../../src/flows/clock.ts';
import { actions, customer, direct, inGroup, startTestBot, type TestBot } from '../../fixtures/harness.ts';
import { twoTeamPolicy } from '../../fixtures/policy.ts';

const clock = new ManualClock('2026-11-23T10:00:00+08:00');
let bot: TestBot;

beforeAll(async () => {
  const policy = twoTeamPolicy();
  bot = await startTestBot({ clock, policy });
});
afterAll(async () => {
  await bot?.close();
});

/** A customer's enquiry, opened; returns its case number. */
async function openEnquiry(
  phone = '13812345678',
): Promise<{ caseNo: number; who: ReturnType<typeof customer> }> {
  const who = customer();
  await bot.chat.send(who, { action: 'm:enquiry' });
  await bot.chat.send(who, { action: 'c:enquiry:topic:billing' });
  await bot.chat.send(who, '燃气费为什么涨了');
  await bot.chat.send(who, phone);
  const done = await bot.chat.send(who, { action: 'c:enquiry:confirm:yes' });
  await bot.chat.read('group-repair');
  return { caseNo: Number(/工单号 (\d+)/.exec(done[0]!.text)![1]), who };
}

describe('staff work a case from the group chat', () => {
  it('take → reply → close, with the customer told at each step', async () => {
    const { caseNo, who } = await openEnquiry();
    await bot.chat.read(who.chatId);
    const take = await bot.chat.send(inGroup('wang'), { action: `case:${caseNo}:take` });
    expect(take.map((r) => r.text)).toContain(`王师傅 已接单：工单 ${caseNo}。`);
    const card = take.find((r) => r.caseId === caseNo)!;
    expect(card.text).toContain('处理中');
    expect(actions(card)).toEqual([`case:${caseNo}:close`]);
    // The full number goes privately to the one who took it, and the reveal is audited.
    const privately = await bot.chat.read('dm-wang');
    expect(privately.at(-1)!.text).toContain('13812345678');
    expect((await bot.chat.read(who.chatId))[0]!.text).toContain('已由工作人员 王师傅 接单');

    const reply = await bot.chat.send(inGroup('wang'), `回复 ${caseNo} 十一月起阶梯气价调整，详见账单说明。`);
    expect(reply[0]!.text).toContain('已将答复发送给');
    expect((await bot.chat.read(who.chatId))[0]!.text).toContain('十一月起阶梯气价调整，详见账单说明。');

    await bot.chat.send(inGroup('wang'), `办结 ${caseNo}`);
    expect((await bot.chat.read(who.chatId))[0]!.text).toContain(`您的工单 ${caseNo} 已办结`);
    const clocks = await bot.rt.database.db.select().from(deadlines).where(eq(deadlines.caseId, caseNo));
    expect(clocks.every((c) => c.state === 'met')).toBe(true);
    const events = await bot.rt.database.db.select().from(caseEvents).where(eq(caseEvents.caseId, caseNo));
    expect(events.map((e) => e.type)).toEqual([
      'opened',
      'assigned',
      'taken',
      'pii_revealed',
      'replied',
      'closed',
    ]);
  });

  it('two staff pressing take at the same moment: exactly one wins', async () => {
    const { caseNo } = await openEnquiry();
    const [a, b] = await Promise.all([
      bot.chat.send(inGroup('wang'), { action: `case:${caseNo}:take` }, { messageId: `race-a-${caseNo}` }),
      bot.chat.send(inGroup('li'), { action: `case:${caseNo}:take` }, { messageId: `race-b-${caseNo}` }),
    ]);
    void a;
    void b;
    const [row] = await bot.rt.database.db.select().from(cases).where(eq(cases.id, caseNo));
    const takes = await bot.rt.database.db.select().from(caseEvents).where(eq(caseEvents.caseId, caseNo));
    expect(takes.filter((e) => e.type === 'taken')).toHaveLength(1);
    const all = (await bot.chat.all('group-repair')).map((r) => r.text);
    expect(all.filter((t) => t.includes(`已接单：工单 ${caseNo}`))).toHaveLength(1);
    expect(all.some((t) => t.includes(`工单 ${caseNo} 已由`))).toBe(true);
    expect(['wang', 'li']).toContain(row!.assigneeId);
  });

  it('a take on an already-taken case says who has it', async () => {
    const { caseNo } = await openEnquiry();
    await bot.chat.send(inGroup('wang'), `接单 ${caseNo}`);
    const again = await bot.chat.send(inGroup('li'), `接单 ${caseNo}`);
    expect(again[0]!.text).toBe(`工单 ${caseNo} 已由 王师傅 接单。`);
  });

  it('staff of another team are refused, and the attempt is logged', async () => {
    const { caseNo } = await openEnquiry();
    const refused = await bot.chat.send(inGroup('chen', 'group-meter'), { action: `case:${caseNo}:take` });
    expect(refused[0]!.text).toContain('您不是本班组的工作人员');
    const [row] = await bot.rt.database.db.select().from(cases).where(eq(cases.id, caseNo));
    expect(row!.state).toBe('open');
    const events = await bot.rt.database.db.select().from(caseEvents).where(eq(caseEvents.caseId, caseNo));
    expect(events.filter((e) => e.type === 'refused')).toEqual([
      expect.objectContaining({ actorId: 'chen', data: expect.objectContaining({ verb: 'take' }) }),
    ]);
  });

  it('a customer forging a case button for someone else’s case is refused', async () => {
    const { caseNo } = await openEnquiry();
    const mallory = customer();
    const replies = await bot.chat.send(mallory, { action: `case:${caseNo}:close` });
    expect(replies[0]!.text).toContain('您不是本班组的工作人员');
    expect(replies.map((r) => r.text).join('')).not.toContain('13812345678');
    const [row] = await bot.rt.database.db.select().from(cases).where(eq(cases.id, caseNo));
    expect(row!.state).toBe('open');
  });

  it('unknown users in the group and malformed case payloads get a clear answer', async () => {
    const { caseNo } = await openEnquiry();
    const stranger = await bot.chat.send(inGroup('nobody'), { action: `case:${caseNo}:take` });
    expect(stranger[0]!.text).toContain('您不是本班组的工作人员');
    const forged = await bot.chat.send(inGroup('wang'), { action: 'case:99999999:take' });
    expect(forged[0]!.text).toBe('没有找到工单 99999999。');
    const garbage = await bot.chat.send(inGroup('wang'), { action: 'case:abc:explode' });
    expect(garbage[0]!.text).toContain('无法识别的命令');
    const noNumber = await bot.chat.send(inGroup('wang'), '接单');
    expect(noNumber[0]!.text).toContain('无法识别的命令');
    // Ordinary chatter in the group gets no answer.
    expect(await bot.chat.send(inGroup('wang'), '今天下午谁去东区？')).toEqual([]);
  });

  it('an unbound group is told so', async () => {
    const replies = await bot.chat.send(inGroup('wang', 'group-unknown'), '接单 100001');
    expect(replies[0]!.text).toContain('本群尚未绑定班组');
  });
});

describe('managers', () => {
  it('get statistics; anyone else is refused', async () => {
    await openEnquiry();
    const stats = await bot.chat.send(direct('zhao'), '/stats');
    expect(stats[0]!.text).toMatch(/^今日统计（2026-11-23.*）\n新建工单 \d+/);
    await bot.chat.read('dm-wang');
    const refusedStaff = await bot.chat.send(direct('wang'), '统计');
    expect(refusedStaff.at(-1)!.text).toBe('只有管理人员可以使用这个命令。');
    const refusedCustomer = await bot.chat.send(customer(), '/stats');
    expect(refusedCustomer[0]!.text).toBe('只有管理人员可以使用这个命令。');
  });
});
