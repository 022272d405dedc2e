import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outbox } from '../../../src/db/schema/index.ts';
import { SendError } from '../../../src/workers/senders.ts';
import { eventually, inGroup } from '../../fixtures/harness.ts';
import { testPolicy } from '../../fixtures/policy.ts';
import { type OaBot, OaClient, reportFaultOverOa, startOaBot } from '../../fixtures/wechat-oa.ts';

const HOUR = 3_600_000;
const TEMPLATE_ID = 'TPL_case_progress_0001';

let phone: OaBot; // no template id: the team phones the customer
let template: OaBot; // policy.wechat.templateId set

beforeAll(async () => {
  [phone, template] = await Promise.all([
    startOaBot(),
    startOaBot({ policy: testPolicy({ wechat: { templateId: TEMPLATE_ID } }) }),
  ]);
});
afterAll(async () => {
  await Promise.all([phone?.close(), template?.close()]);
});

/** The outbox row that tells the customer their case was taken. */
async function takenRow(bot: OaBot, openid: string) {
  const rows = await bot.rt.database.db
    .select()
    .from(outbox)
    .where(and(eq(outbox.channel, 'wechat-oa'), eq(outbox.chatId, openid)))
    .orderBy(asc(outbox.id));
  return rows.find((r) => (r.payload as { text: string }).text.includes('王师傅 接单'));
}

describe('the 48-hour customer-service window', () => {
  it('closed, no template: no API call, the row is dead, the team is asked to phone the customer', async () => {
    const openid = OaClient.openid();
    const caseNo = await reportFaultOverOa(phone.client, openid);
    phone.clock.advance(49 * HOUR);
    await phone.chat.read('group-repair');
    await phone.chat.send(inGroup('wang'), { action: `case:${caseNo}:take` });
    const row = await eventually(async () => {
      const r = await takenRow(phone, openid);
      return r?.state === 'dead' ? r : undefined;
    });
    expect(row.error).toBe('48-hour window closed');
    // Everything queued for the group, not what came since the last read: the worker may have
    // queued the task before `send` read the group's replies to the take.
    const task = await eventually(async () =>
      (await phone.chat.all('group-repair')).find(
        (r) => r.text.startsWith('📞') && r.text.includes(`${caseNo}`),
      ),
    );
    expect(task.text).toContain(`给工单 ${caseNo} 客户的消息无法送达（48-hour window closed）`);
    expect(phone.fake.to('custom', openid)).toEqual([]);
    expect(phone.fake.to('template', openid)).toEqual([]);
  });

  it('open: the customer-service API; WeChat saying 45015 still ends in the phone task', async () => {
    const openid = OaClient.openid();
    await phone.client.text(openid, '菜单');
    expect(await phone.sender.send({ outboxId: 1, chatId: openid, reply: { text: '进度' } })).toEqual({});
    expect(phone.fake.textsTo(openid)).toEqual(['进度']);
    phone.fake.failNext('custom', 45015);
    const err = await phone.sender
      .send({ outboxId: 2, chatId: openid, reply: { text: '进度' } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SendError);
    expect((err as SendError).opts).toEqual({ permanent: true });
  });

  it('closed, with a template id: a template message instead', async () => {
    const openid = OaClient.openid();
    const caseNo = await reportFaultOverOa(template.client, openid);
    template.clock.advance(49 * HOUR);
    await template.chat.read('group-repair');
    await template.chat.send(inGroup('wang'), { action: `case:${caseNo}:take` });
    const row = await eventually(async () => {
      const r = await takenRow(template, openid);
      return r?.state === 'sent' ? r : undefined;
    });
    expect(row.externalId).toMatch(/^template:\d+$/);
    expect(template.fake.to('custom', openid)).toEqual([]);
    const [call] = template.fake.to('template', openid);
    expect(call!.body).toMatchObject({ touser: openid, template_id: TEMPLATE_ID });
    const data = call!.body.data as Record<string, { value: string }>;
    expect(data.first!.value).toContain('王师傅 接单');
    expect([...data.thing1!.value].length).toBeLessThanOrEqual(20);
    expect(data.remark!.value).toContain('96777');
    expect((await template.chat.all('group-repair')).some((r) => r.text.startsWith('📞'))).toBe(false);
  });

  it('open but WeChat says 45015: a template message too', async () => {
    const openid = OaClient.openid();
    await template.client.text(openid, '菜单');
    template.fake.failNext('custom', 45015);
    const sent = await template.sender.send({ outboxId: 3, chatId: openid, reply: { text: '进度更新' } });
    expect(sent.externalId).toMatch(/^template:/);
    expect(
      (template.fake.to('template', openid)[0]!.body.data as { first: { value: string } }).first.value,
    ).toBe('进度更新');
  });
});
