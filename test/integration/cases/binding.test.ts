import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { staffIdentities, teamChats } from '../../../src/db/schema/index.ts';
import { ManualClock } from '../../../src/flows/clock.ts';
import { customer, direct, inGroup, startTestBot, type TestBot } from '../../fixtures/harness.ts';

const clock = new ManualClock('2026-11-23T10:00:00+08:00');
let bot: TestBot;
beforeAll(async () => {
  bot = await startTestBot({ clock });
});
afterAll(async () => {
  await bot?.close();
});

const codeIn = (text: string | undefined) => /([A-Z2-9]{8})/.exec(text ?? '')?.[1];

describe('binding a group chat to a team', () => {
  it('takes a one-time code from a manager; the group then receives the team’s cases', async () => {
    const issued = await bot.chat.send(direct('zhao'), '/bindcode repair');
    const code = codeIn(issued[0]!.text)!;
    expect(issued[0]!.text).toContain('抢修维修班');
    const bound = await bot.chat.send(inGroup('someone', 'group-new'), `/bind ${code.toLowerCase()}`);
    expect(bound[0]!.text).toBe('本群已绑定到班组「抢修维修班」，新工单会发到这里。');
    const rows = await bot.rt.database.db
      .select()
      .from(teamChats)
      .where(and(eq(teamChats.channel, 'web'), eq(teamChats.teamId, 'repair')));
    expect(rows.map((r) => r.chatId)).toEqual(['group-new']);
    // The code is spent.
    const again = await bot.chat.send(inGroup('someone', 'group-other'), `/bind ${code}`);
    expect(again[0]!.text).toContain('绑定码无效、已使用或已过期');
    // New cases arrive in the newly bound group.
    const who = customer();
    await bot.chat.send(who, { action: 'm:human' });
    expect((await bot.chat.read('group-new')).some((r) => r.text.includes('【转人工】'))).toBe(true);
  });

  it('refuses codes from non-managers, made-up codes, expired codes, and /bind in a private chat', async () => {
    expect((await bot.chat.send(direct('wang'), '/bindcode repair')).at(-1)!.text).toBe(
      '只有管理人员可以使用这个命令。',
    );
    expect((await bot.chat.send(customer(), '/bindcode repair'))[0]!.text).toContain('只有管理人员');
    expect((await bot.chat.send(inGroup('x', 'group-z'), '/bind ABCDEFGH'))[0]!.text).toContain('绑定码无效');
    const code = codeIn((await bot.chat.send(direct('zhao'), '绑定码 抢修维修班'))[0]!.text)!;
    expect((await bot.chat.send(customer(), `/bind ${code}`))[0]!.text).toBe('请在班组群里发送 /bind。');
    clock.advance(25 * 3600_000);
    expect((await bot.chat.send(inGroup('x', 'group-z'), `/bind ${code}`))[0]!.text).toContain('已过期');
    expect((await bot.chat.send(direct('zhao'), '/bindcode mars'))[0]!.text).toBe(
      '没有编号或名称为「mars」的班组。',
    );
  });
});

describe('registering a staff member’s chat account', () => {
  it('links the account, after which staff commands work for it', async () => {
    const code = codeIn((await bot.chat.send(direct('zhao'), '/staffcode wang'))[0]!.text)!;
    const newcomer = customer('wang-phone');
    const reply = await bot.chat.send(newcomer, `/register ${code}`);
    expect(reply[0]!.text).toBe('您已注册为「王师傅」，可以在班组群里处理工单了。');
    const [identity] = await bot.rt.database.db
      .select()
      .from(staffIdentities)
      .where(and(eq(staffIdentities.channel, 'web'), eq(staffIdentities.externalUserId, 'wang-phone')));
    expect(identity!.staffId).toBe('wang');
    const stranger = await bot.chat.send(customer(), `/register ${code}`);
    expect(stranger[0]!.text).toContain('绑定码无效');
  });
});
