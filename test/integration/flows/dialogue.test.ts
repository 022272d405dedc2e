import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caseEvents, cases, deadlines, dialogues } from '../../../src/db/schema/index.ts';
import { ManualClock } from '../../../src/flows/clock.ts';
import { sweepIdleDialogues } from '../../../src/flows/engine/idle-sweep.ts';
import { actions, customer, startTestBot, type TestBot, texts } from '../../fixtures/harness.ts';

// A working Monday morning in Shanghai, so working-day clocks are easy to read.
const clock = new ManualClock('2026-11-23T10:00:00+08:00');
let bot: TestBot;

beforeAll(async () => {
  bot = await startTestBot({ clock });
});
afterAll(async () => {
  await bot?.close();
});

/** Walks a fresh customer to the given step of the enquiry flow; returns the customer. */
async function walkTo(step: 'topic' | 'description' | 'phone' | 'confirm') {
  const who = customer();
  await bot.chat.send(who, '你好');
  let replies = await bot.chat.send(who, { action: 'm:enquiry' });
  if (step === 'topic') return { who, replies };
  replies = await bot.chat.send(who, { action: 'c:enquiry:topic:billing' });
  if (step === 'description') return { who, replies };
  replies = await bot.chat.send(who, '上个月燃气费怎么这么高？');
  if (step === 'phone') return { who, replies };
  replies = await bot.chat.send(who, '13812345678');
  return { who, replies };
}

describe('the dialogue engine, through the enquiry flow', () => {
  it('greets a new customer with the main menu as buttons', async () => {
    const replies = await bot.chat.send(customer(), '你好');
    expect(replies).toHaveLength(1);
    expect(replies[0]!.text).toContain('示例燃气有限公司');
    expect(actions(replies[0])).toEqual(['m:repair', 'm:enquiry', 'm:mycases', 'm:human', 'm:help']);
  });

  it('answers a number or the label on text-only channels', async () => {
    const who = customer();
    await bot.chat.send(who, 'hi');
    const byNumber = await bot.chat.send(who, '２'); // full-width digit: the second item
    expect(byNumber[0]!.text).toBe('请选择咨询类别：');
    const byLabel = await bot.chat.send(who, '安全用气');
    expect(byLabel[0]!.text).toContain('请简要描述');
  });

  it('opens a case with a working-day answer clock and posts a masked card to the team group', async () => {
    const { who } = await walkTo('confirm');
    const done = await bot.chat.send(who, { action: 'c:enquiry:confirm:yes' });
    const caseNo = /工单号 (\d+)/.exec(done[0]!.text)?.[1];
    expect(caseNo).toBeDefined();
    // 3 working days from Monday 2026-11-23 10:00 is Thursday 11-26 10:00.
    expect(done[0]!.text).toContain('11月26日 10:00');
    const group = await bot.chat.read('group-repair');
    const card = group.find((r) => r.caseId === Number(caseNo))!;
    expect(card.text).toContain('138****5678');
    expect(card.text).not.toContain('13812345678');
    expect(actions(card)).toEqual([`case:${caseNo}:take`]);
    const clocks = await bot.rt.database.db
      .select()
      .from(deadlines)
      .where(eq(deadlines.caseId, Number(caseNo)));
    expect(clocks.map((c) => c.kind).sort()).toEqual(['reply', 'respond']);
    const [row] = await bot.rt.database.db
      .select()
      .from(cases)
      .where(eq(cases.id, Number(caseNo)));
    expect(row!.assigneeId).toMatch(/^(wang|li)$/);
  });

  it.each(['topic', 'description', 'phone', 'confirm'] as const)(
    '取消 at the %s step ends the dialogue',
    async (step) => {
      const { who } = await walkTo(step);
      const replies = await bot.chat.send(who, '取消');
      expect(replies[0]!.text).toContain('已取消');
      expect(actions(replies[0])).toContain('m:enquiry');
    },
  );

  it.each(['topic', 'description', 'phone', 'confirm'] as const)(
    '返回 at the %s step goes one step back',
    async (step) => {
      const { who } = await walkTo(step);
      const replies = await bot.chat.send(who, { action: 'g:back' });
      const expected = {
        topic: '已经是第一步了。',
        description: '请选择咨询类别：',
        phone: '请简要描述',
        confirm: '请留下联系电话',
      }[step];
      expect(texts(replies).join('\n')).toContain(expected);
    },
  );

  it.each(['topic', 'description', 'phone', 'confirm'] as const)(
    '人工 at the %s step hands over to a person',
    async (step) => {
      const { who } = await walkTo(step);
      const replies = await bot.chat.send(who, '转人工');
      expect(replies[0]!.text).toMatch(/已为您转接人工客服，工单号 \d+/);
      const again = await bot.chat.send(who, '人工');
      expect(again[0]!.text).toContain('已在处理中');
    },
  );

  it('帮助 explains the words that work everywhere and repeats the question', async () => {
    const { who } = await walkTo('phone');
    const replies = await bot.chat.send(who, '帮助');
    expect(replies[0]!.text).toContain('取消');
    expect(replies[1]!.text).toContain('请留下联系电话');
  });

  it('rejects an invalid phone number and accepts +86 with full-width digits', async () => {
    const { who } = await walkTo('phone');
    const bad = await bot.chat.send(who, '12345');
    expect(bad[0]!.text).toContain('电话号码格式不正确');
    const good = await bot.chat.send(who, '＋８６ １３９ １２３４ ５６７８');
    expect(good[0]!.text).toContain('13912345678');
  });

  it('survives a process restart in the middle of a dialogue', async () => {
    const { who } = await walkTo('phone');
    bot = await bot.restart({ clock });
    await bot.chat.read(who.chatId); // a new driver: skip what was said before the restart
    const replies = await bot.chat.send(who, '0571-87654321');
    expect(replies[0]!.text).toContain('请确认您的留言');
    expect(replies[0]!.text).toContain('上个月燃气费怎么这么高');
    const done = await bot.chat.send(who, '1');
    expect(done[0]!.text).toMatch(/留言已提交，工单号 \d+/);
  });
});

describe('bad input gets a clear answer', () => {
  it('empty text', async () => {
    const { who } = await walkTo('description');
    const replies = await bot.chat.send(who, '   ');
    expect(replies[0]!.text).toBe('没有收到内容，请再说一遍。');
    expect(replies[1]!.text).toContain('请简要描述');
  });

  it('a 10,000-character text', async () => {
    const { who } = await walkTo('description');
    const replies = await bot.chat.send(who, '气'.repeat(10_000));
    expect(replies[0]!.text).toContain('内容太长了（最多 1000 字）');
    expect(replies[1]!.text).toContain('请简要描述');
  });

  it('emoji only, where a choice is expected', async () => {
    const { who } = await walkTo('topic');
    const replies = await bot.chat.send(who, '🔥🔥👍');
    expect(replies[0]!.text).toContain('请从下列选项中选择');
  });

  it('emoji only, at the menu', async () => {
    const replies = await bot.chat.send(customer(), '😀');
    expect(replies[0]!.text).toContain('抱歉，没有理解您的意思');
  });

  it('an unknown button payload', async () => {
    const { who } = await walkTo('description');
    const replies = await bot.chat.send(who, { action: 'c:enquiry:topic:nonsense' });
    expect(replies[0]!.text).toBe('这个按钮已失效，请按当前的问题回答。');
    const atMenu = await bot.chat.send(customer(), { action: '💥garbage' });
    expect(atMenu[0]!.text).toBe('这个按钮已失效，请按当前的问题回答。');
  });

  it('a photo where text was asked', async () => {
    const { who } = await walkTo('description');
    const replies = await bot.chat.send(who, { attachments: [{ kind: 'image', ref: 'file-1' }] });
    expect(replies[0]!.text).toBe('请用文字回答这个问题。');
  });

  it('state saved by an older version of a flow restarts cleanly', async () => {
    const { who } = await walkTo('phone');
    await bot.rt.database.db
      .update(dialogues)
      .set({ flowVersion: 0 })
      .where(eq(dialogues.userId, who.userId));
    const replies = await bot.chat.send(who, '13812345678');
    expect(replies[0]!.text).toContain('业务流程已更新');
  });

  it('English texts for English-speaking users', async () => {
    const who = { ...customer(), lang: 'en' as const };
    const replies = await bot.chat.send(who, 'hello');
    expect(replies[0]!.text).toContain('customer service');
    expect(replies[0]!.choices?.[1]?.label).toBe('Ask a question');
  });
});

describe('idle dialogues', () => {
  it('get a reminder, then end', async () => {
    const { who } = await walkTo('description');
    clock.advance(11 * 60_000);
    const first = await sweepIdleDialogues(bot.rt.database.db, bot.rt.deps);
    expect(first.reminded).toBeGreaterThanOrEqual(1);
    expect(texts(await bot.chat.read(who.chatId))).toEqual([
      '您还在吗？回复任意内容继续办理，回复「取消」结束。',
    ]);
    // A second sweep in the same idle spell reminds nobody twice.
    await sweepIdleDialogues(bot.rt.database.db, bot.rt.deps);
    expect(await bot.chat.read(who.chatId)).toEqual([]);
    clock.advance(20 * 60_000);
    await sweepIdleDialogues(bot.rt.database.db, bot.rt.deps);
    expect(texts(await bot.chat.read(who.chatId))).toEqual([
      '由于长时间未回复，本次办理已结束。需要时请随时发消息给我们。',
    ]);
    const rows = await bot.rt.database.db.select().from(dialogues).where(eq(dialogues.userId, who.userId));
    expect(rows).toEqual([]);
  });

  it('a customer answering after the reminder carries on', async () => {
    const { who } = await walkTo('description');
    clock.advance(11 * 60_000);
    await sweepIdleDialogues(bot.rt.database.db, bot.rt.deps);
    await bot.chat.read(who.chatId);
    const replies = await bot.chat.send(who, '燃气费为什么涨了');
    expect(replies[0]!.text).toContain('请留下联系电话');
  });
});

describe('leak words', () => {
  it('send the safety script first, from the middle of any dialogue', async () => {
    const { who } = await walkTo('phone');
    const replies = await bot.chat.send(who, '家里有煤气味怎么办');
    expect(replies[0]!.text).toContain('燃气泄漏安全提示');
    expect(replies[0]!.text).toContain('96777');
  });
});

describe('the audit trail', () => {
  it('records who opened and who was assigned', async () => {
    const { who } = await walkTo('confirm');
    const done = await bot.chat.send(who, '1');
    const caseNo = Number(/工单号 (\d+)/.exec(done[0]!.text)?.[1]);
    const events = await bot.rt.database.db.select().from(caseEvents).where(eq(caseEvents.caseId, caseNo));
    expect(events.map((e) => e.type)).toEqual(['opened', 'assigned']);
  });
});
