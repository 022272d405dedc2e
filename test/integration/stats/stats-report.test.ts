import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  overdueReport,
  parsePeriod,
  type StatsPeriod,
  statsReport,
} from '../../../src/flows/stats/stats-report.ts';
import { statsTexts } from '../../../src/flows/stats/stats-texts.ts';
import { startTestBot, type TestBot } from '../../fixtures/harness.ts';
import { seedCase, seedDeadline } from '../../fixtures/seed.ts';

/** Wednesday afternoon; the week began on Monday 2026-11-23, the month on 2026-11-01. */
const NOW = new Date('2026-11-25T15:00:00+08:00');
const at = (local: string) => new Date(`${local}+08:00`);

let bot: TestBot;
const no: Record<string, number> = {};

beforeAll(async () => {
  bot = await startTestBot();
  const db = bot.rt.database.db;

  // Today (00:30 Shanghai is still the 24th in UTC): a leak, taken by 王师傅, its handle clock 7 h late.
  const leak = await seedCase(db, {
    category: 'leak',
    state: 'taken',
    teamId: 'repair',
    assigneeId: 'wang',
    createdAt: at('2026-11-25T00:30:00'),
  });
  no.leak = leak.id;
  await seedDeadline(db, {
    caseId: leak.id,
    kind: 'ackP0',
    startedAt: leak.createdAt,
    dueAt: at('2026-11-25T00:35:00'),
    state: 'met',
    metAt: at('2026-11-25T00:32:00'),
  });
  await seedDeadline(db, {
    caseId: leak.id,
    kind: 'handle',
    startedAt: leak.createdAt,
    dueAt: at('2026-11-25T08:00:00'),
  });

  // This week: a no-gas repair closed in time, fixed first time, rated 5 today.
  const timely = await seedCase(db, {
    category: 'nogas',
    state: 'closed',
    assigneeId: 'wang',
    createdAt: at('2026-11-24T10:00:00'),
    closedAt: at('2026-11-24T15:00:00'),
    fixedFirstTime: true,
    rating: 5,
    ratedAt: at('2026-11-25T10:00:00'),
  });
  await seedDeadline(db, {
    caseId: timely.id,
    kind: 'repair',
    startedAt: timely.createdAt,
    state: 'met',
    metAt: at('2026-11-24T15:00:00'),
  });

  // This week: a meter repair closed today after its repair clock was breached, not fixed first time, rated 2.
  const late = await seedCase(db, {
    category: 'meter',
    state: 'closed',
    assigneeId: 'li',
    createdAt: at('2026-11-24T10:00:00'),
    closedAt: at('2026-11-25T11:00:00'),
    fixedFirstTime: false,
    rating: 2,
    ratedAt: at('2026-11-25T12:00:00'),
  });
  await seedDeadline(db, {
    caseId: late.id,
    kind: 'repair',
    startedAt: late.createdAt,
    state: 'met',
    breachedAt: at('2026-11-25T10:00:00'),
    metAt: at('2026-11-25T11:00:00'),
  });

  // Monday just after midnight: a no-gas repair nobody took; its confirm clock is 2 d 12 h 50 min late.
  const waiting = await seedCase(db, { category: 'nogas', createdAt: at('2026-11-23T00:10:00') });
  no.waiting = waiting.id;
  await seedDeadline(db, {
    caseId: waiting.id,
    kind: 'confirm',
    startedAt: waiting.createdAt,
    dueAt: at('2026-11-23T02:10:00'),
  });

  // Sunday before the week: an appliance repair 李班长 is on site for; repair clock 1 d 15 h 30 min late.
  const onSite = await seedCase(db, {
    category: 'appliance',
    state: 'arrived',
    assigneeId: 'li',
    createdAt: at('2026-11-22T23:30:00'),
  });
  no.onSite = onSite.id;
  await seedDeadline(db, { caseId: onSite.id, kind: 'repair', startedAt: onSite.createdAt });

  // Earlier this month: a pipe repair closed in time, fixed first time.
  const pipe = await seedCase(db, {
    category: 'pipe',
    state: 'closed',
    createdAt: at('2026-11-10T10:00:00'),
    closedAt: at('2026-11-11T10:00:00'),
    fixedFirstTime: true,
  });
  await seedDeadline(db, {
    caseId: pipe.id,
    kind: 'repair',
    startedAt: pipe.createdAt,
    state: 'met',
    metAt: at('2026-11-11T09:00:00'),
  });

  // Last month: a repair closed late; outside every period.
  const october = await seedCase(db, {
    category: 'other',
    state: 'closed',
    createdAt: at('2026-10-20T10:00:00'),
    closedAt: at('2026-10-22T10:00:00'),
    fixedFirstTime: false,
    rating: 1,
    ratedAt: at('2026-10-23T10:00:00'),
  });
  await seedDeadline(db, {
    caseId: october.id,
    kind: 'repair',
    startedAt: october.createdAt,
    state: 'met',
    breachedAt: at('2026-10-21T10:00:00'),
    metAt: at('2026-10-22T10:00:00'),
  });

  // This week: a cancelled no-gas repair (not a closed repair).
  await seedCase(db, { category: 'nogas', state: 'cancelled', createdAt: at('2026-11-24T09:00:00') });

  // Other kinds: an enquiry today (respond clock not yet due), one this week taken by 王师傅 with its
  // reply clock 1 h late, and a closed request for a person.
  const enquiryToday = await seedCase(db, { kind: 'enquiry', createdAt: at('2026-11-25T14:00:00') });
  await seedDeadline(db, {
    caseId: enquiryToday.id,
    kind: 'respond',
    startedAt: enquiryToday.createdAt,
    dueAt: at('2026-11-25T16:00:00'),
  });
  const enquiryLate = await seedCase(db, {
    kind: 'enquiry',
    state: 'taken',
    assigneeId: 'wang',
    createdAt: at('2026-11-24T11:00:00'),
  });
  no.enquiryLate = enquiryLate.id;
  await seedDeadline(db, {
    caseId: enquiryLate.id,
    kind: 'reply',
    startedAt: enquiryLate.createdAt,
    dueAt: at('2026-11-25T14:00:00'),
  });
  await seedCase(db, { kind: 'human', state: 'closed', createdAt: at('2026-11-24T16:00:00') });
});
afterAll(async () => {
  await bot?.close();
});

async function report(period: StatsPeriod, lang: 'zh' | 'en' = 'zh', now = NOW): Promise<string[]> {
  const text = await bot.rt.database.db.transaction((tx) =>
    statsReport({ tx, deps: bot.rt.deps, now }, { period, lang }),
  );
  return text.split('\n');
}

async function overdue(opts: { lang?: 'zh' | 'en'; limit?: number } = {}, now = NOW): Promise<string[]> {
  const text = await bot.rt.database.db.transaction((tx) =>
    overdueReport({ tx, deps: bot.rt.deps, now }, { lang: opts.lang ?? 'zh', limit: opts.limit }),
  );
  return text.split('\n');
}

describe('parsePeriod', () => {
  it('reads the period words, defaulting to today', () => {
    expect(parsePeriod(undefined)).toBe('today');
    expect(parsePeriod('')).toBe('today');
    for (const w of ['今日', '今天', 'today', '日', ' Today ']) expect(parsePeriod(w)).toBe('today');
    for (const w of ['本周', '周', 'week', 'WEEK']) expect(parsePeriod(w)).toBe('week');
    for (const w of ['本月', '月', 'month']) expect(parsePeriod(w)).toBe('month');
    for (const w of ['昨天', 'year', '本周二']) expect(parsePeriod(w)).toBeNull();
  });
});

describe('statsReport', () => {
  it('today: created by kind, repairs by category and state, open and overdue now, rates with targets', async () => {
    expect(await report('today')).toEqual([
      '今日统计（2026-11-25）',
      '新建工单 2：报修 1，咨询留言 1',
      '报修类别：燃气泄漏/闻到燃气味 1',
      '报修状态：处理中 1',
      '当前未办结 5（待接单 2，处理中 2，已到场 1）',
      '当前超时 4 个时限；本期超时 1 次',
      '维修及时率 0.0%（目标 100%）⚠️',
      '一次性维修合格率 0.0%（目标 96%）⚠️',
      '评价 2 条：平均 3.5 分，满意率 50.0%（目标 99.5%）⚠️',
    ]);
  });

  it('this week starts on Monday 00:00 Shanghai', async () => {
    const lines = await report('week');
    expect(lines[0]).toBe('本周统计（2026-11-23 至 2026-11-25）');
    expect(lines[1]).toBe('新建工单 8：报修 5，咨询留言 2，转人工 1');
    expect(lines[2]).toBe('报修类别：燃气泄漏/闻到燃气味 1，停气/无气/气小 3，燃气表故障 1');
    expect(lines[3]).toBe('报修状态：待接单 1，处理中 1，已办结 2，已取消 1');
    expect(lines[5]).toBe('当前超时 4 个时限；本期超时 1 次');
    expect(lines).toContain('维修及时率 50.0%（目标 100%）⚠️');
    expect(lines).toContain('一次性维修合格率 50.0%（目标 96%）⚠️');
  });

  it('this month starts on the 1st and leaves last month out', async () => {
    const lines = await report('month');
    expect(lines[0]).toBe('本月统计（2026-11-01 至 2026-11-25）');
    expect(lines[1]).toBe('新建工单 10：报修 7，咨询留言 2，转人工 1');
    expect(lines[2]).toBe(
      '报修类别：燃气泄漏/闻到燃气味 1，停气/无气/气小 3，燃气表故障 1，灶具/热水器/壁挂炉故障 1，管道/阀门损坏 1',
    );
    expect(lines[3]).toBe('报修状态：待接单 1，处理中 1，已到场 1，已办结 3，已取消 1');
    expect(lines).toContain('维修及时率 66.7%（目标 100%）⚠️');
    expect(lines).toContain('一次性维修合格率 66.7%（目标 96%）⚠️');
    expect(lines).toContain('当前超时 4 个时限；本期超时 1 次');
  });

  it('a rate on target has no warning, and a period without ratings has no rating line', async () => {
    // Tuesday evening: only the timely no-gas repair has closed today; nothing rated yet.
    const lines = await report('today', 'zh', at('2026-11-24T20:00:00'));
    expect(lines).toContain('维修及时率 100.0%（目标 100%）');
    expect(lines).toContain('一次性维修合格率 100.0%（目标 96%）');
    expect(lines.some((l) => l.startsWith('评价'))).toBe(false);
    expect(lines.join('\n')).not.toContain('⚠️');
  });

  it('shows — when a rate has no denominator', async () => {
    // Thursday just after midnight: nothing created, closed or rated yet today.
    const lines = await report('today', 'zh', at('2026-11-26T00:05:00'));
    expect(lines[0]).toBe('今日统计（2026-11-26）');
    expect(lines[1]).toBe('新建工单 0');
    expect(lines).toContain('维修及时率 —（目标 100%）');
    expect(lines).toContain('一次性维修合格率 —（目标 96%）');
    expect(lines.join('\n')).not.toMatch(/NaN|⚠️|报修类别/);
  });

  it('speaks English with the English category names', async () => {
    expect(await report('week', 'en')).toEqual([
      'This week (2026-11-23 – 2026-11-25)',
      'New cases 8: Repair 5, Question 2, Person requested 1',
      'Repairs by category: Gas leak / smell of gas 1, No gas / low pressure 3, Gas meter fault 1',
      'Repairs by state: waiting 1, in progress 1, closed 2, cancelled 1',
      'Open now 5 (waiting 2, in progress 2, on site 1)',
      'Overdue now: 4 clocks; missed in period: 1',
      'Repair timeliness 50.0% (target 100%) ⚠️',
      'First-time fix rate 50.0% (target 96%) ⚠️',
      'Ratings 2: average 3.5, satisfied 50.0% (target 99.5%) ⚠️',
    ]);
  });
});

describe('overdueReport', () => {
  it('lists the running clocks past due, most overdue first, with names and assignees', async () => {
    expect(await overdue()).toEqual([
      '超时工单（4）：',
      `工单 ${no.waiting}【停气/无气/气小】确认超时 2 天 12 小时，负责人：无人`,
      `工单 ${no.onSite}【灶具/热水器/壁挂炉故障】修复超时 1 天 15 小时，负责人：李班长`,
      `工单 ${no.leak}【燃气泄漏/闻到燃气味】处置超时 7 小时 0 分钟，负责人：王师傅`,
      `工单 ${no.enquiryLate}【咨询留言】答复超时 1 小时 0 分钟，负责人：王师傅`,
    ]);
  });

  it('stops at the limit and says how many there are', async () => {
    const lines = await overdue({ limit: 2 });
    expect(lines).toHaveLength(4);
    expect(lines[2]).toContain(`工单 ${no.onSite}`);
    expect(lines[3]).toBe('…共 4 条');
  });

  it('says so when nothing is overdue', async () => {
    expect(await overdue({}, at('2026-11-23T00:00:00'))).toEqual(['没有超时工单。']);
  });

  it('speaks English', async () => {
    const lines = await overdue({ lang: 'en' });
    expect(lines[0]).toBe('Overdue cases (4):');
    expect(lines[1]).toBe(
      `Case ${no.waiting} [No gas / low pressure] confirmation overdue by 2 d 12 h, assignee: nobody`,
    );
    expect(lines[4]).toBe(`Case ${no.enquiryLate} [Question] answer overdue by 1 h 0 min, assignee: 王师傅`);
  });
});

describe('statsTexts', () => {
  it('has the same keys in both languages', () => {
    expect(Object.keys(statsTexts.en).sort()).toEqual(Object.keys(statsTexts.zh).sort());
  });
});
