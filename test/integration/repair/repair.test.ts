import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caseEvents, cases, deadlines, outbox } from '../../../src/db/schema/index.ts';
import { ManualClock } from '../../../src/flows/clock.ts';
import { fireDeadline } from '../../../src/flows/deadlines/fire-deadline.ts';
import { LOAD_COUNT_CAP, onDutyStaff } from '../../../src/flows/org/duty.ts';
import {
  actions,
  customer,
  direct,
  inGroup,
  startTestBot,
  type TestBot,
  texts,
} from '../../fixtures/harness.ts';
import { twoTeamPolicy } from '../../fixtures/policy.ts';

// Monday 2026-11-23 10:00 in Shanghai.
const clock = new ManualClock('2026-11-23T10:00:00+08:00');
let bot: TestBot;

beforeAll(async () => {
  const policy = twoTeamPolicy();
  bot = await startTestBot({ clock, policy });
});
afterAll(async () => {
  await bot?.close();
});

const db = () => bot.rt.database.db;
const caseNoIn = (text: string | undefined) => Number(/工单号 (\d+)/.exec(text ?? '')?.[1]);

async function clocksOf(caseId: number) {
  return db().select().from(deadlines).where(eq(deadlines.caseId, caseId)).orderBy(asc(deadlines.id));
}

/** Wakes a clock as its timer would, at the time it is set for. */
async function wake(caseId: number, kind: string) {
  const [row] = (await clocksOf(caseId)).filter((c) => c.kind === kind);
  clock.set(row!.nextAt!);
  return fireDeadline(db(), bot.rt.deps, { deadlineId: row!.id, nextAtMs: row!.nextAt!.getTime() });
}

/** A customer reports a normal fault all the way; returns the case number. */
async function reportFault(who = customer(), opts: { phone?: string; address?: string } = {}) {
  await bot.chat.send(who, { action: 'm:repair' });
  await bot.chat.send(who, { action: 'c:repair:category:nogas' });
  await bot.chat.send(who, opts.address ?? '西湖区文三路 100 号 3 幢 201');
  await bot.chat.send(who, opts.phone ?? '13912345678');
  await bot.chat.send(who, '灶具打不着火，气很小');
  await bot.chat.send(who, { action: 'c:repair:photos:skip' });
  await bot.chat.send(who, { action: 'c:repair:time:asap' });
  const done = await bot.chat.send(who, { action: 'c:repair:confirm:yes' });
  return { who, caseNo: caseNoIn(done[0]?.text), done };
}

describe('a gas leak', () => {
  it('gets the safety script first and pages the on-duty crew before anything is asked', async () => {
    const who = customer();
    const replies = await bot.chat.send(who, '厨房有很大的煤气味');
    expect(replies[0]!.text).toContain('燃气泄漏安全提示');
    expect(replies[1]!.text).toMatch(/已紧急通知抢修人员，工单号 \d+/);
    expect(replies[2]!.text).toBe('请告诉我们泄漏地点的详细地址：');
    const caseNo = caseNoIn(replies[1]!.text);
    const [row] = await db().select().from(cases).where(eq(cases.id, caseNo));
    expect(row).toMatchObject({ kind: 'repair', category: 'leak', priority: 'P0', teamId: 'repair' });
    // Every on-duty member is paged privately, and the pages were queued before the first question.
    const pages = await db().select().from(outbox).where(eq(outbox.chatId, 'dm-wang'));
    const li = await db().select().from(outbox).where(eq(outbox.chatId, 'dm-li'));
    const page = pages.find((p) =>
      (p.payload as { text: string }).text.includes(`燃气泄漏报警！工单 ${caseNo}`),
    )!;
    expect(li.some((p) => (p.payload as { text: string }).text.includes(`工单 ${caseNo}`))).toBe(true);
    const [question] = await db()
      .select()
      .from(outbox)
      .where(and(eq(outbox.chatId, who.chatId)))
      .orderBy(asc(outbox.id));
    expect(page.id).toBeLessThan(question!.id + 3);
    const ask = (await db().select().from(outbox).where(eq(outbox.chatId, who.chatId))).find((r) =>
      (r.payload as { text: string }).text.startsWith('请告诉我们泄漏地点'),
    )!;
    expect(page.id).toBeLessThan(ask.id);
    // Then only address and phone; the crew sees them masked in the group.
    await bot.chat.read('group-repair');
    const phoneAsk = await bot.chat.send(who, '上城区解放路 8 号 2 单元 302');
    expect(phoneAsk[0]!.text).toContain('请留下能联系到您的电话');
    const done = await bot.chat.send(who, '13812345678');
    expect(done[0]!.text).toContain(`工单 ${caseNo}`);
    const group = await bot.chat.read('group-repair');
    const card = group.find((r) => r.caseId === caseNo)!;
    expect(card.text).toContain('🚨燃气泄漏·紧急');
    expect(card.text).toContain('138****5678');
    expect(card.text).toContain('上城区解放路***');
    expect(card.text).not.toContain('302');
  });

  it('nobody acknowledges: re-paged with the supervisor at 5 minutes, the manager at 10', async () => {
    clock.set('2026-11-23T11:00:00+08:00');
    const who = customer();
    const replies = await bot.chat.send(who, '漏气了');
    const caseNo = caseNoIn(replies[1]!.text);
    await bot.chat.read('dm-li');
    await bot.chat.read('dm-zhao');
    expect((await wake(caseNo, 'ackP0')).status).toBe('fired');
    expect(clock.now().toISOString()).toBe('2026-11-23T03:05:00.000Z');
    expect(texts(await bot.chat.read('dm-li')).join('\n')).toContain(`工单 ${caseNo} 的接警响应时限已到`);
    expect(await bot.chat.read('dm-zhao')).toEqual([]);
    expect((await wake(caseNo, 'ackP0')).status).toBe('fired');
    expect(clock.now().toISOString()).toBe('2026-11-23T03:10:00.000Z');
    expect(texts(await bot.chat.read('dm-zhao')).join('\n')).toContain(
      `升级：工单 ${caseNo} 的接警响应时限已超时 5 分钟`,
    );
  });

  it('a second leak report from the same customer joins the open alarm', async () => {
    const who = customer();
    const first = await bot.chat.send(who, '漏气');
    const again = await bot.chat.send(who, '还是有燃气味');
    expect(again[1]!.text).toContain(`您的报警（工单 ${caseNoIn(first[1]!.text)}）正在紧急处理中`);
  });

  it('the leak category in the fault menu takes the emergency path too', async () => {
    const who = customer();
    await bot.chat.send(who, { action: 'm:repair' });
    const replies = await bot.chat.send(who, { action: 'c:repair:category:leak' });
    expect(replies[0]!.text).toContain('燃气泄漏安全提示');
  });
});

describe('a normal fault, end to end', () => {
  it('customer → group card → take → arrive → resolve → the customer gets the result and rates', async () => {
    clock.set('2026-11-23T10:00:00+08:00');
    const { who, caseNo, done } = await reportFault();
    expect(done[0]!.text).toContain('11月23日 12:00 前与您联系');
    expect(done[0]!.text).toContain('11月23日 16:00 前到场处理');
    expect(done[0]!.text).toContain('11月24日 10:00 前修复');
    const group = await bot.chat.read('group-repair');
    const card = group.find((r) => r.caseId === caseNo)!;
    expect(card.text).toContain('停气/无气/气小');
    expect(card.text).toContain('区域：西湖区');
    expect(card.text).toContain('139****5678');
    expect(card.text).toContain('西湖区文三路***');
    // The first card already counts down the three promised times (the clocks start as the case is routed).
    for (const name of ['确认', '处置', '修复']) expect(card.text).toMatch(new RegExp(`${name}：剩 \\S`));
    await bot.chat.read(who.chatId);

    await bot.chat.send(inGroup('wang'), { action: `case:${caseNo}:take` });
    expect(texts(await bot.chat.read(who.chatId))[0]).toContain('王师傅 接单');
    await bot.chat.send(inGroup('wang'), { action: `case:${caseNo}:arrive` });
    expect(texts(await bot.chat.read(who.chatId))[0]).toContain('已到达现场');

    const cause = await bot.chat.send(inGroup('wang'), { action: `case:${caseNo}:resolve` });
    expect(cause.at(-1)!.text).toContain('请填写故障原因');
    await bot.chat.send(inGroup('wang'), '减压阀堵塞');
    await bot.chat.send(inGroup('wang'), '清洗减压阀，试火正常');
    const firstTime = await bot.chat.send(inGroup('wang'), '已恢复正常供气');
    expect(actions(firstTime.at(-1))).toEqual(['c:resolve:firstTime:yes', 'c:resolve:firstTime:no']);
    await bot.chat.send(inGroup('wang'), { action: 'c:resolve:firstTime:yes' });

    const result = await bot.chat.read(who.chatId);
    expect(result[0]!.text).toContain('故障原因：减压阀堵塞');
    expect(result[0]!.text).toContain('处理结果：已恢复正常供气');
    expect(actions(result[0])).toEqual([5, 4, 3, 2, 1].map((n) => `rate:${caseNo}:${n}`));
    const thanks = await bot.chat.send(who, { action: `rate:${caseNo}:5` });
    expect(thanks[0]!.text).toBe('感谢您的评价！');
    // The rating dialogue that waited for a typed answer is gone once a button was used.
    expect((await bot.chat.send(who, '你好'))[0]!.text).toContain('请选择要办理的业务');
    const twice = await bot.chat.send(who, { action: `rate:${caseNo}:1` });
    expect(twice[0]!.text).toContain('您已评价过');
    const [row] = await db().select().from(cases).where(eq(cases.id, caseNo));
    expect(row).toMatchObject({ state: 'closed', fixedFirstTime: true, rating: 5 });
    expect((await clocksOf(caseNo)).map((c) => c.state)).toEqual(['met', 'met', 'met']);
  });

  it('routes to the on-duty member with the fewest open cases, taking turns on a tie', async () => {
    clock.set('2026-11-25T09:00:00+08:00');
    // Close every open repair case so both start equal, then three reports: turns, then load.
    await db().update(cases).set({ state: 'closed' }).where(eq(cases.teamId, 'repair'));
    const first = await reportFault();
    const second = await reportFault();
    const [a] = await db().select().from(cases).where(eq(cases.id, first.caseNo));
    const [b] = await db().select().from(cases).where(eq(cases.id, second.caseNo));
    expect(new Set([a!.assigneeId, b!.assigneeId])).toEqual(new Set(['wang', 'li']));
    // The first assignee's case closes: they now have fewer open cases, so the next one is theirs.
    await db().update(cases).set({ state: 'closed' }).where(eq(cases.id, first.caseNo));
    const third = await reportFault();
    const [c] = await db().select().from(cases).where(eq(cases.id, third.caseNo));
    expect(c!.assigneeId).toBe(a!.assigneeId);
  });

  it("counts a member's open cases up to the cap: members past it take turns", async () => {
    clock.set('2026-11-25T09:30:00+08:00');
    await db().update(cases).set({ state: 'closed' }).where(eq(cases.teamId, 'repair'));
    const { caseNo } = await reportFault();
    // Copies of that case: wang holds 250 open ones, li 205.
    for (const [staff, n] of [
      ['wang', LOAD_COUNT_CAP + 50],
      ['li', LOAD_COUNT_CAP + 5],
    ] as const)
      await db().execute(sql`
        insert into cases (kind, category, priority, state, customer_id, team_id, assignee_id, channel, chat_id,
                           customer_lang, phone, address, created_at, updated_at)
        select kind, category, priority, 'open', customer_id, team_id, ${staff}, channel, chat_id,
               customer_lang, phone, address, created_at, updated_at
        from cases, generate_series(1, ${n}) where id = ${caseNo}`);
    const loads = await onDutyStaff(db(), { teamId: 'repair', now: clock.now() });
    expect(loads.map((m) => [m.staffId, m.openCases]).sort()).toEqual([
      ['li', LOAD_COUNT_CAP],
      ['wang', LOAD_COUNT_CAP],
    ]);
    // Counted in full, li would get both of the next two cases.
    const next = [await reportFault(), await reportFault()];
    const assignees = await db()
      .select({ assigneeId: cases.assigneeId })
      .from(cases)
      .where(
        inArray(
          cases.id,
          next.map((r) => r.caseNo),
        ),
      );
    expect(new Set(assignees.map((a) => a.assigneeId))).toEqual(new Set(['wang', 'li']));
    await db().update(cases).set({ state: 'closed' }).where(eq(cases.teamId, 'repair'));
  });

  it('on a channel without buttons the customer rates with a number', async () => {
    const { who, caseNo } = await reportFault();
    await bot.chat.send(inGroup('wang'), `接单 ${caseNo}`);
    await bot.chat.send(inGroup('wang'), `完成 ${caseNo}`);
    for (const answer of ['阀门老化', '更换阀门', '已恢复供气']) await bot.chat.send(inGroup('wang'), answer);
    await bot.chat.send(inGroup('wang'), '2'); // 否: not fixed the first time
    await bot.chat.read(who.chatId);
    const thanks = await bot.chat.send(who, '2'); // the second line: 满意
    expect(thanks[0]!.text).toBe('感谢您的评价！');
    const [row] = await db().select().from(cases).where(eq(cases.id, caseNo));
    expect(row).toMatchObject({ rating: 4, fixedFirstTime: false });
  });

  it('free text naming a fault starts the report at the address, with the category known', async () => {
    const replies = await bot.chat.send(customer(), '家里燃气表坏了');
    expect(replies[0]!.text).toContain('请输入故障地址');
  });

  it('the last address and phone are offered next time', async () => {
    const who = customer();
    await reportFault(who, { address: '西湖区天目山路 9 号', phone: '13700001111' });
    await bot.chat.send(who, { action: 'm:repair' });
    const address = await bot.chat.send(who, { action: 'c:repair:category:meter' });
    expect(address[0]!.choices?.[0]?.label).toBe('使用：西湖区天目山路 9 号');
    const phone = await bot.chat.send(who, '1');
    expect(phone[0]!.choices?.[0]?.label).toBe('使用：13700001111');
  });

  it('a repair outside the company’s scope gets the reason and where to go, and no case', async () => {
    const who = customer();
    await bot.chat.send(who, { action: 'm:repair' });
    const before = (await db().select().from(cases)).length;
    const replies = await bot.chat.send(who, { action: 'c:repair:category:electric' });
    expect(replies[0]!.text).toContain('不在我公司维修范围内');
    expect(replies[0]!.text).toContain('请联系电器生产厂家的售后服务');
    expect((await db().select().from(cases)).length).toBe(before);
  });

  it('photos are collected on their step', async () => {
    const who = customer();
    await bot.chat.send(who, '没气了');
    await bot.chat.send(who, '西湖区文三路 1 号');
    await bot.chat.send(who, '13912345678');
    await bot.chat.send(who, '完全没气');
    const one = await bot.chat.send(who, { attachments: [{ kind: 'image', ref: 'photo-1' }] });
    expect(one[0]!.text).toContain('已收到 1 张照片');
    const text = await bot.chat.send(who, '这是照片');
    expect(text[0]!.text).toContain('请从下列选项中选择');
    const time = await bot.chat.send(who, { action: 'c:repair:photos:done' });
    expect(time[0]!.text).toContain('希望什么时间上门');
  });
});

describe('clocks and escalation', () => {
  it('a reminder at 75 %, then a missed confirmation escalates, tells the customer, and counts in /stats', async () => {
    clock.set('2026-11-24T09:00:00+08:00');
    const { who, caseNo } = await reportFault();
    await bot.chat.read(who.chatId);
    const [, li] = [await bot.chat.read('dm-wang'), await bot.chat.read('dm-li')];
    void li;
    const [row] = await db().select().from(cases).where(eq(cases.id, caseNo));
    const assigneeChat = `dm-${row!.assigneeId}`;
    await bot.chat.read(assigneeChat);
    await wake(caseNo, 'confirm'); // 75 % of 2 h
    expect(clock.now().toISOString()).toBe('2026-11-24T02:30:00.000Z');
    expect(texts(await bot.chat.read(assigneeChat)).join('\n')).toContain(
      `工单 ${caseNo} 的确认时限将于 11月24日 11:00 到期`,
    );
    await wake(caseNo, 'confirm'); // the promise itself
    expect(texts(await bot.chat.read('group-repair')).join('\n')).toContain(`工单 ${caseNo} 的确认时限已到`);
    expect(texts(await bot.chat.read('dm-li')).join('\n')).toContain(`工单 ${caseNo} 的确认时限已到`);
    expect(texts(await bot.chat.read(who.chatId))[0]).toContain(`未能在承诺的 11月24日 11:00 前完成确认`);
    const events = await db().select().from(caseEvents).where(eq(caseEvents.caseId, caseNo));
    expect(events.filter((e) => e.type === 'deadline_missed')).toHaveLength(1);

    // Staff give the reason; the customer hears it.
    await bot.chat.send(inGroup('wang'), `原因 ${caseNo} 抢修车辆在另一起泄漏现场`);
    expect(texts(await bot.chat.read(who.chatId))[0]).toContain('抢修车辆在另一起泄漏现场');
    const [breached] = (await clocksOf(caseNo)).filter((c) => c.kind === 'confirm');
    expect(breached!.breachReason).toBe('抢修车辆在另一起泄漏现场');

    const stats = await bot.chat.send(direct('zhao'), '统计 本周');
    expect(stats[0]!.text).toMatch(/本期超时 [1-9]/);
    clock.advance(60_000);
    const overdue = await bot.chat.send(direct('zhao'), '/overdue');
    expect(overdue[0]!.text).toContain(`工单 ${caseNo}`);
  });

  it('a transfer re-routes to the other team and restarts the confirmation clock', async () => {
    clock.set('2026-11-24T14:00:00+08:00');
    const { caseNo } = await reportFault();
    await bot.chat.send(inGroup('wang'), `接单 ${caseNo}`);
    clock.advance(30 * 60_000);
    await bot.chat.read('group-meter');
    const moved = await bot.chat.send(inGroup('wang'), `转派 ${caseNo} 表具班`);
    expect(moved.map((r) => r.text).join('\n')).toContain(`工单 ${caseNo} 已由 王师傅 转派给 表具班`);
    const meter = await bot.chat.read('group-meter');
    expect(meter.find((r) => r.caseId === caseNo)?.text).toContain('待接单');
    const [row] = await db().select().from(cases).where(eq(cases.id, caseNo));
    expect(row).toMatchObject({ teamId: 'meter', assigneeId: 'chen', state: 'open' });
    const confirm = (await clocksOf(caseNo)).find((c) => c.kind === 'confirm')!;
    expect(confirm.state).toBe('running');
    expect(confirm.dueAt.toISOString()).toBe('2026-11-24T08:30:00.000Z'); // 14:30 + 2 h
    // The old team can no longer act on it; the new one can.
    const refused = await bot.chat.send(inGroup('wang'), `接单 ${caseNo}`);
    expect(refused[0]!.text).toContain('您不是本班组的工作人员');
    await bot.chat.send(inGroup('chen', 'group-meter'), `接单 ${caseNo}`);
    const [taken] = await db().select().from(cases).where(eq(cases.id, caseNo));
    expect(taken).toMatchObject({ state: 'taken', assigneeId: 'chen' });
  });

  it('staff ask the customer a question and the answer comes back to the group', async () => {
    const { who, caseNo } = await reportFault();
    await bot.chat.send(inGroup('wang'), `接单 ${caseNo}`);
    await bot.chat.read(who.chatId);
    await bot.chat.send(inGroup('wang'), `联系客户 ${caseNo} 下午两点家里有人吗？`);
    expect(texts(await bot.chat.read(who.chatId))[0]).toContain('下午两点家里有人吗？');
    await bot.chat.read('group-repair');
    const sent = await bot.chat.send(who, '有人，我在家');
    expect(sent[0]!.text).toBe('已将您的回复转给工作人员。');
    expect(texts(await bot.chat.read('group-repair'))).toContain(`工单 ${caseNo} 客户回复：有人，我在家`);
    await bot.chat.send(inGroup('wang'), `备注 ${caseNo} 客户下午在家`);
    const notes = await db().select().from(caseEvents).where(eq(caseEvents.caseId, caseNo));
    expect(notes.map((e) => e.type)).toEqual(
      expect.arrayContaining(['asked_customer', 'customer_answered', 'note']),
    );
  });
});

describe('customers see their own cases only', () => {
  it('我的工单 lists their cases with promised times; another customer’s case is not found', async () => {
    const alice = customer();
    const { caseNo } = await reportFault(alice);
    const mine = await bot.chat.send(alice, '我的工单');
    expect(mine[0]!.text).toContain(`${caseNo} 报修（停气/无气/气小）`);
    expect(mine[0]!.text).toContain('确认时限');
    const mallory = customer();
    const theirs = await bot.chat.send(mallory, `查询 ${caseNo}`);
    expect(theirs[0]!.text).toBe(`没有找到您的工单 ${caseNo}。`);
    const none = await bot.chat.send(customer(), { action: 'm:mycases' });
    expect(none[0]!.text).toBe('您目前没有工单。');
    const forgedRating = await bot.chat.send(mallory, { action: `rate:${caseNo}:1` });
    expect(forgedRating[0]!.text).toBe('这不是您的工单，无法评价。');
  });
});

describe('bad input in the fault report', () => {
  async function atAddress() {
    const who = customer();
    await bot.chat.send(who, '没气了');
    return who;
  }

  it('an address of 1 character, and of 2,000 characters', async () => {
    const who = await atAddress();
    const short = await bot.chat.send(who, '家');
    expect(short[0]!.text).toContain('地址太短了');
    const long = await bot.chat.send(who, '文'.repeat(2000));
    expect(long[0]!.text).toMatch(/太长/);
    const ok = await bot.chat.send(who, '西湖区文三路 1 号');
    expect(ok[0]!.text).toContain('请输入联系电话');
  });

  it('an invalid phone number', async () => {
    const who = await atAddress();
    await bot.chat.send(who, '西湖区文三路 1 号');
    const bad = await bot.chat.send(who, '12345678901234');
    expect(bad[0]!.text).toContain('电话号码格式不正确');
  });

  it('a photo where text was asked', async () => {
    const who = await atAddress();
    const replies = await bot.chat.send(who, { attachments: [{ kind: 'image', ref: 'p' }] });
    expect(replies[0]!.text).toBe('请用文字回答这个问题。');
  });

  it('a customer pressing a staff button for a case is refused and nothing changes', async () => {
    const { caseNo } = await reportFault();
    const replies = await bot.chat.send(customer(), { action: `case:${caseNo}:resolve` });
    expect(replies[0]!.text).toContain('您不是本班组的工作人员');
    const [row] = await db().select().from(cases).where(eq(cases.id, caseNo));
    expect(row!.state).toBe('open');
  });

  it('resolve before take, arrive twice, a non-manager asking for overdue cases', async () => {
    const { caseNo } = await reportFault();
    await bot.chat.read('group-repair');
    expect((await bot.chat.send(inGroup('wang'), `完成 ${caseNo}`))[0]!.text).toContain('还没有人接单');
    await bot.chat.send(inGroup('wang'), `接单 ${caseNo}`);
    await bot.chat.send(inGroup('wang'), `到达 ${caseNo}`);
    await bot.chat.read('group-repair');
    expect((await bot.chat.send(inGroup('wang'), `到达 ${caseNo}`))[0]!.text).toContain('已记录到场');
    await bot.chat.read('dm-wang');
    expect((await bot.chat.send(direct('wang'), '/overdue')).at(-1)!.text).toBe(
      '只有管理人员可以使用这个命令。',
    );
    expect((await bot.chat.send(inGroup('wang'), `转派 ${caseNo} 火星班`))[0]!.text).toContain(
      '找不到转派对象「火星班」',
    );
  });
});
