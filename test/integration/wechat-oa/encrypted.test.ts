import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildXml, parseWeChatXml, wechatSignature } from '../../../src/bot/wechat/official-account/index.ts';
import { inboundMessages } from '../../../src/db/schema/index.ts';
import {
  OA_ORIGINAL_ID,
  OA_TOKEN,
  type OaBot,
  OaClient,
  reportFaultOverOa,
  startOaBot,
} from '../../fixtures/wechat-oa.ts';

let safe: OaBot;
let compatible: OaBot;

beforeAll(async () => {
  [safe, compatible] = await Promise.all([
    startOaBot({ mode: 'safe', workers: false }),
    startOaBot({ mode: 'compatible', workers: false }),
  ]);
});
afterAll(async () => {
  await Promise.all([safe?.close(), compatible?.close()]);
});

const inboundOf = (bot: OaBot, openid: string) =>
  bot.rt.database.db
    .select()
    .from(inboundMessages)
    .where(eq(inboundMessages.senderId, openid))
    .orderBy(asc(inboundMessages.id));

describe('safe mode (AES)', () => {
  it('reports a fault end to end; every passive reply is encrypted and signed', async () => {
    const openid = OaClient.openid();
    // The fixture's client decrypts each reply and checks its MsgSignature.
    await reportFaultOverOa(safe.client, openid);
    const raw = await safe.client.text(openid, '菜单');
    expect(raw.body).toMatch(/^<xml><Encrypt><!\[CDATA\[[A-Za-z0-9+/=]+\]\]><\/Encrypt><MsgSignature>/);
    expect(raw.body).not.toContain('请选择');
    expect(raw.reply).toMatchObject({ ToUserName: openid, FromUserName: OA_ORIGINAL_ID, MsgType: 'text' });
  });

  it('a gas leak: the encrypted passive reply starts with the safety script', async () => {
    const res = await safe.client.text(OaClient.openid(), '有煤气味');
    expect(res.text?.startsWith('【燃气泄漏安全提示】')).toBe(true);
  });

  it('a message encrypted for another AppID is 401 and not processed', async () => {
    const openid = OaClient.openid();
    const res = await safe.client.text(openid, '你好', { appId: 'wxffffffffffffffff' });
    expect(res.status).toBe(401);
    expect(await inboundOf(safe, openid)).toEqual([]);
  });

  it('a wrong msg_signature is 401 even with a right signature', async () => {
    const openid = OaClient.openid();
    const inner = buildXml(
      safe.client.fields(openid, { MsgType: 'text', Content: '你好', MsgId: safe.client.nextMsgId() }),
    );
    const encrypted = safe.client.cipher.encrypt(inner);
    const timestamp = String(Math.floor(safe.clock.now().getTime() / 1000));
    const nonce = '424242';
    const res = await safe.client.post(
      {
        signature: wechatSignature(OA_TOKEN, timestamp, nonce),
        timestamp,
        nonce,
        encrypt_type: 'aes',
        msg_signature: wechatSignature(OA_TOKEN, timestamp, nonce, `${encrypted}x`),
      },
      buildXml({ ToUserName: OA_ORIGINAL_ID, Encrypt: encrypted }),
    );
    expect(res.status).toBe(401);
    expect(await inboundOf(safe, openid)).toEqual([]);
  });

  it('a plaintext push is refused in safe mode', async () => {
    const openid = OaClient.openid();
    const res = await safe.client.text(openid, '你好', { encrypt: false });
    expect(res.status).toBe(400);
    expect(await inboundOf(safe, openid)).toEqual([]);
  });

  it('a tampered ciphertext is 401', async () => {
    const openid = OaClient.openid();
    const inner = buildXml(safe.client.fields(openid, { MsgType: 'text', Content: '你好', MsgId: '5' }));
    const encrypted = safe.client.cipher.encrypt(inner);
    const flipped = Buffer.from(encrypted, 'base64');
    flipped[flipped.length - 1]! ^= 0xff;
    const tampered = flipped.toString('base64');
    const timestamp = String(Math.floor(safe.clock.now().getTime() / 1000));
    const res = await safe.client.post(
      {
        signature: wechatSignature(OA_TOKEN, timestamp, '99'),
        timestamp,
        nonce: '99',
        encrypt_type: 'aes',
        msg_signature: wechatSignature(OA_TOKEN, timestamp, '99', tampered),
      },
      buildXml({ ToUserName: OA_ORIGINAL_ID, Encrypt: tampered }),
    );
    expect(res.status).toBe(401);
    expect(await inboundOf(safe, openid)).toEqual([]);
  });
});

describe('compatible mode', () => {
  it('answers an encrypted push encrypted and a plaintext push in plaintext', async () => {
    const openid = OaClient.openid();
    const encrypted = await compatible.client.text(openid, '菜单', { encrypt: true });
    expect(encrypted.body.startsWith('<xml><Encrypt>')).toBe(true);
    expect(encrypted.text).toContain('请选择要办理的业务');
    const plain = await compatible.client.text(openid, '帮助', { encrypt: false });
    expect(parseWeChatXml(plain.body).Content).toContain('请选择要办理的业务');
    expect(plain.body).not.toContain('<Encrypt>');
  });

  it('uses the decrypted content, not the plaintext copy beside it', async () => {
    const openid = OaClient.openid();
    const timestamp = String(Math.floor(compatible.clock.now().getTime() / 1000));
    const fields = compatible.client.fields(openid, {
      MsgType: 'text',
      Content: '菜单',
      MsgId: compatible.client.nextMsgId(),
    });
    const encrypted = compatible.client.cipher.encrypt(buildXml(fields));
    const body = buildXml({ ...fields, Content: '有煤气味', Encrypt: encrypted });
    const res = await compatible.client.post(
      {
        signature: wechatSignature(OA_TOKEN, timestamp, '31337'),
        timestamp,
        nonce: '31337',
        encrypt_type: 'aes',
        msg_signature: wechatSignature(OA_TOKEN, timestamp, '31337', encrypted),
      },
      body,
    );
    expect(res.text).toContain('请选择要办理的业务');
    const [row] = await inboundOf(compatible, openid);
    expect(row!.payload).toMatchObject({ text: '菜单' });
  });
});
