import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundPipeline } from '../../../src/bot/pipeline.ts';
import {
  buildXml,
  createWeChatApi,
  OA_PATH,
  QUOTA_RETRY_MS,
  wechatSignature,
} from '../../../src/bot/wechat/official-account/index.ts';
import { inboundMessages, outbox } from '../../../src/db/schema/index.ts';
import { SendError } from '../../../src/workers/senders.ts';
import { eventually, inGroup } from '../../fixtures/harness.ts';
import {
  OA_APP_ID,
  OA_APP_SECRET,
  OA_ORIGINAL_ID,
  OA_TOKEN,
  type OaBot,
  OaClient,
  reportFaultOverOa,
  startOaBot,
} from '../../fixtures/wechat-oa.ts';

let bot: OaBot;
/** While set, the route's processing waits for it (a slow database, a long flow). */
let gate: Promise<void> | null = null;

beforeAll(async () => {
  bot = await startOaBot({
    mode: 'plain',
    passiveTimeoutMs: 1_500,
    wrapPipeline: (p: InboundPipeline) => ({
      async receiveAndProcess(msg, opts) {
        if (gate) await gate;
        return p.receiveAndProcess(msg, opts);
      },
    }),
  });
});
afterAll(async () => {
  await bot?.close();
});

const db = () => bot.rt.database.db;
const caseNoIn = (text: string | undefined) => Number(/工单号 (\d+)/.exec(text ?? '')?.[1]);
const inboundOf = (openid: string) =>
  db()
    .select()
    .from(inboundMessages)
    .where(eq(inboundMessages.senderId, openid))
    .orderBy(asc(inboundMessages.id));
const outboxOf = (openid: string) =>
  db()
    .select()
    .from(outbox)
    .where(and(eq(outbox.channel, 'wechat-oa'), eq(outbox.chatId, openid)))
    .orderBy(asc(outbox.id));

describe('server URL verification (GET)', () => {
  const get = (query: Record<string, string>) =>
    bot.app.inject({ method: 'GET', url: `${OA_PATH}?${new URLSearchParams(query)}` });

  it('echoes echostr when the signature is right, else 401', async () => {
    const [timestamp, nonce] = ['1700000000', '123456'];
    const signature = wechatSignature(OA_TOKEN, timestamp, nonce);
    const ok = await get({ signature, timestamp, nonce, echostr: '8475029384756' });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toBe('8475029384756');
    const bad = await get({ signature: signature.replace(/^./, '0'), timestamp, nonce, echostr: '1' });
    expect(bad.statusCode).toBe(401);
    expect((await get({ timestamp, nonce, echostr: '1' })).statusCode).toBe(401);
  });
});

describe('customers on the official account (plain mode)', () => {
  it('reports a fault end to end, every question in the passive reply', async () => {
    const openid = OaClient.openid();
    const caseNo = await reportFaultOverOa(bot.client, openid);
    // Every reply went back passively: nothing left for the API, nothing sent through it.
    const rows = await outboxOf(openid);
    expect(rows.length).toBeGreaterThanOrEqual(8);
    expect(rows.every((r) => r.state === 'sent' && r.externalId === 'passive')).toBe(true);
    expect(bot.fake.to('custom', openid)).toEqual([]);
    // The team's card (a web group here) was handed to its worker.
    await eventually(async () => {
      const [card] = await db()
        .select()
        .from(outbox)
        .where(and(eq(outbox.chatId, 'group-repair'), eq(outbox.caseId, caseNo)));
      return card?.state === 'sent';
    });
  });

  it('a menu click works from anywhere; the choices are numbered lines', async () => {
    const openid = OaClient.openid();
    const res = await bot.client.click(openid, 'm:repair');
    expect(res.reply).toMatchObject({ ToUserName: openid, FromUserName: OA_ORIGINAL_ID, MsgType: 'text' });
    expect(res.text).toMatch(/请选择故障类别：\n\n1\. 燃气泄漏\/闻到燃气味\n2\. 停气\/无气\/气小/);
    expect(res.text).toContain('（取消）');
  });

  it('a gas leak: the passive reply starts with the safety script', async () => {
    const openid = OaClient.openid();
    const res = await bot.client.text(openid, '有煤气味');
    expect(res.text?.startsWith('【燃气泄漏安全提示】')).toBe(true);
    expect(res.text).toMatch(/已紧急通知抢修人员，工单号 \d+/);
    expect(res.text).toContain('请告诉我们泄漏地点的详细地址');
  });

  it('a shared location answers the address question with its label', async () => {
    const openid = OaClient.openid();
    await bot.client.click(openid, 'm:repair');
    await bot.client.text(openid, '2');
    const res = await bot.client.push(
      bot.client.fields(openid, {
        MsgType: 'location',
        Location_X: '30.274085',
        Location_Y: '120.15507',
        Scale: '15',
        Label: '浙江省杭州市西湖区文三路 100 号',
        MsgId: bot.client.nextMsgId(),
      }),
    );
    expect(res.text).toContain('请输入联系电话');
    const [, , stored] = await inboundOf(openid);
    expect(stored!.payload).toMatchObject({
      attachments: [
        { kind: 'location', lat: 30.274085, lng: 120.15507, label: '浙江省杭州市西湖区文三路 100 号' },
      ],
    });
  });

  it('voice with recognition is text; an image is an attachment', async () => {
    const openid = OaClient.openid();
    const voice = await bot.client.push(
      bot.client.fields(openid, {
        MsgType: 'voice',
        MediaId: 'media-voice-1',
        Format: 'amr',
        Recognition: '我要报修',
        MsgId: bot.client.nextMsgId(),
      }),
    );
    expect(voice.text).toContain('请选择故障类别');
    await bot.client.push(
      bot.client.fields(openid, {
        MsgType: 'image',
        PicUrl: 'http://mmbiz.example/pic',
        MediaId: 'media-image-1',
        MsgId: bot.client.nextMsgId(),
      }),
    );
    const [first, second] = await inboundOf(openid);
    expect(first!.payload).toMatchObject({ text: '我要报修' });
    expect(second!.payload).toMatchObject({ attachments: [{ kind: 'image', ref: 'media-image-1' }] });
  });

  it('subscribe greets with the menu; unsubscribe is stored and answered with nothing', async () => {
    const openid = OaClient.openid();
    const hello = await bot.client.event(openid, 'subscribe');
    expect(hello.text).toContain('请选择要办理的业务');
    expect(hello.text).toContain('1. 报修/报警');
    const bye = await bot.client.event(openid, 'unsubscribe');
    expect(bye).toMatchObject({ status: 200, body: 'success' });
    const rows = await inboundOf(openid);
    expect(rows).toHaveLength(2);
    expect(rows[1]!.payload).toMatchObject({ event: 'unsubscribe' });
    expect(rows[1]!.processedAt).not.toBeNull();
    expect(await outboxOf(openid)).toHaveLength(1);
  });

  it('the same MsgId three times (WeChat retries) is processed once', async () => {
    const openid = OaClient.openid();
    const msgId = bot.client.nextMsgId();
    const first = await bot.client.text(openid, '菜单', { msgId });
    const again = await bot.client.text(openid, '菜单', { msgId });
    const third = await bot.client.text(openid, '菜单', { msgId });
    expect(first.text).toContain('请选择要办理的业务');
    expect(again.body).toBe('success');
    expect(third.body).toBe('success');
    expect(await inboundOf(openid)).toHaveLength(1);
    expect(await outboxOf(openid)).toHaveLength(1);
  });

  it('a click retried by WeChat (same sender, CreateTime, key) is processed once', async () => {
    const openid = OaClient.openid();
    await bot.client.click(openid, 'm:mycases');
    const again = await bot.client.click(openid, 'm:mycases');
    expect(again.body).toBe('success');
    expect(await inboundOf(openid)).toHaveLength(1);
  });
});

describe('the route and its body parser', () => {
  it('takes text/xml, application/xml or no content type; JSON routes elsewhere are unaffected', async () => {
    const openid = OaClient.openid();
    const xml = (id: string) =>
      buildXml(bot.client.fields(openid, { MsgType: 'text', Content: '帮助', MsgId: id }));
    for (const [i, contentType] of ['text/xml', 'application/xml; charset=utf-8', undefined].entries()) {
      const timestamp = String(Math.floor(bot.clock.now().getTime() / 1000));
      const nonce = `55${i}`;
      const query = new URLSearchParams({
        signature: wechatSignature(OA_TOKEN, timestamp, nonce),
        timestamp,
        nonce,
      });
      const res = await bot.app.inject({
        method: 'POST',
        url: `${OA_PATH}?${query}`,
        headers: contentType ? { 'content-type': contentType } : {},
        payload: xml(`9${i}`),
      });
      expect(res.statusCode, String(contentType)).toBe(200);
      expect(res.body).toContain('<xml>');
    }
    const web = await bot.app.inject({
      method: 'POST',
      url: '/api/web/messages',
      payload: { chatId: 'c-json', userId: 'json', text: '你好' },
    });
    expect(web.statusCode).toBe(202);
  });
});

describe('refused pushes: nothing is processed', () => {
  it('a bad signature is 401', async () => {
    const openid = OaClient.openid();
    const res = await bot.client.text(openid, '你好', { token: 'wrongToken' });
    expect(res.status).toBe(401);
    expect(await inboundOf(openid)).toEqual([]);
  });

  it('a stale or future timestamp is 401', async () => {
    const openid = OaClient.openid();
    const now = Math.floor(bot.clock.now().getTime() / 1000);
    expect((await bot.client.text(openid, '你好', { timestamp: now - 6 * 60 })).status).toBe(401);
    expect((await bot.client.text(openid, '你好', { timestamp: now + 6 * 60 })).status).toBe(401);
    expect((await bot.client.text(openid, '你好', { timestamp: now - 4 * 60 })).status).toBe(200);
    expect(await inboundOf(openid)).toHaveLength(1);
  });

  it('a replayed nonce: another body is 401; the identical retry is answered and not processed', async () => {
    const openid = OaClient.openid();
    const nonce = '777000111';
    const first = await bot.client.text(openid, '菜单', { nonce });
    expect(first.status).toBe(200);
    const forged = await bot.client.text(openid, '有煤气味', { nonce });
    expect(forged.status).toBe(401);
    // WeChat's own retry repeats the request byte for byte.
    const xml = buildXml(bot.client.fields(openid, { MsgType: 'text', Content: '帮助', MsgId: '1' }));
    const timestamp = String(Math.floor(bot.clock.now().getTime() / 1000));
    const query = { signature: wechatSignature(OA_TOKEN, timestamp, '888'), timestamp, nonce: '888' };
    expect((await bot.client.post(query, xml)).status).toBe(200);
    expect((await bot.client.post(query, xml)).body).toBe('success');
    const rows = await inboundOf(openid);
    expect(rows.map((r) => (r.payload as { text?: string }).text)).toEqual(['菜单', '帮助']);
  });

  it('XXE and billion laughs: refused, nothing expanded, nothing fetched, no crash', async () => {
    const openid = OaClient.openid();
    const xxe = `<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><ToUserName><![CDATA[${OA_ORIGINAL_ID}]]></ToUserName><FromUserName><![CDATA[${openid}]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>`;
    const lol = `<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]><xml><FromUserName>${openid}</FromUserName><MsgType>text</MsgType><Content>&lol4;</Content><MsgId>2</MsgId></xml>`;
    for (const raw of [xxe, lol]) {
      const res = await bot.client.push({ FromUserName: openid }, { raw });
      expect(res.status).toBe(400);
    }
    expect(await inboundOf(openid)).toEqual([]);
    const health = await bot.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
  });

  it('a body over 64 KB is refused before it is read', async () => {
    const openid = OaClient.openid();
    const res = await bot.client.text(openid, '长'.repeat(30_000));
    expect(res.status).toBe(413);
    expect(await inboundOf(openid)).toEqual([]);
  });

  it('an encrypted push while configured for plain mode is 400 (a configuration mistake, logged)', async () => {
    const openid = OaClient.openid();
    expect((await bot.client.text(openid, '你好', { encrypt: true })).status).toBe(400);
    expect(await inboundOf(openid)).toEqual([]);
  });

  it('malformed XML is 400', async () => {
    const res = await bot.client.push({}, { raw: '<xml><Content>unclosed</xml>' });
    expect(res.status).toBe(400);
  });
});

describe('replies after the passive window, through the customer-service API', () => {
  it('a slow push is answered `success`; its reply goes through custom/send', async () => {
    const openid = OaClient.openid();
    let release = () => {};
    gate = new Promise<void>((r) => {
      release = r;
    });
    const started = Date.now();
    const res = await bot.client.text(openid, '菜单');
    gate = null;
    expect(res).toMatchObject({ status: 200, body: 'success' });
    expect(Date.now() - started).toBeLessThan(4_000);
    release();
    const texts = await eventually(async () => {
      const sent = bot.fake.textsTo(openid);
      return sent.length > 0 ? sent : undefined;
    });
    expect(texts[0]).toContain('请选择要办理的业务');
    expect(texts[0]).toContain('1. 报修/报警');
    // The API call happens inside the delivery transaction: the row is marked sent just after.
    const row = await eventually(async () => {
      const [r] = await outboxOf(openid);
      return r?.state === 'sent' ? r : undefined;
    });
    expect(row).toMatchObject({ state: 'sent', externalId: null });
  });

  it('an access token refused with 40001 is refreshed once and the call retried', async () => {
    const openid = OaClient.openid();
    const caseNo = caseNoIn((await bot.client.text(openid, '漏气了')).text);
    // A token is in Redis (fetched now unless a test above did); the next call is told it is invalid.
    await createWeChatApi({
      appId: OA_APP_ID,
      appSecret: OA_APP_SECRET,
      apiBase: bot.fake.base,
      redis: bot.rt.redis,
      prefix: bot.rt.env.QUEUE_PREFIX,
      log: bot.rt.log,
    }).accessToken();
    const tokensBefore = bot.fake.tokenCalls;
    bot.fake.failNext('custom', 40001);
    await bot.chat.send(inGroup('wang'), { action: `case:${caseNo}:take` });
    const texts = await eventually(async () => {
      const sent = bot.fake.textsTo(openid);
      return sent.length > 0 ? sent : undefined;
    });
    expect(texts[0]).toContain('王师傅 接单');
    expect(bot.fake.tokenCalls - tokensBefore).toBe(1);
    const calls = bot.fake.to('custom', openid);
    expect(calls).toHaveLength(2);
    expect(calls[0]!.token).not.toBe(calls[1]!.token);
  });

  it('quota errors (45009, 45047) wait and retry instead of losing the message', async () => {
    const openid = OaClient.openid();
    await bot.client.text(openid, '菜单');
    for (const errcode of [45009, 45047]) {
      bot.fake.failNext('custom', errcode);
      const err = await bot.sender
        .send({ outboxId: 1, chatId: openid, reply: { text: '工单进度' } })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SendError);
      expect((err as SendError).opts).toEqual({ retryAfterMs: QUOTA_RETRY_MS });
    }
    expect(await bot.sender.send({ outboxId: 1, chatId: openid, reply: { text: '工单进度' } })).toEqual({});
  });
});
