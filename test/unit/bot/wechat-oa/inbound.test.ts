import { describe, expect, it } from 'vitest';
import { oaConfig } from '../../../../src/bot/wechat/official-account/config.ts';
import { toInbound } from '../../../../src/bot/wechat/official-account/inbound.ts';
import { OA_MENU } from '../../../../src/bot/wechat/official-account/menu.ts';
import { parseEnv } from '../../../../src/env.ts';

const at = new Date('2026-11-23T02:00:00Z');
const push = (rest: Record<string, string>) => ({
  ToUserName: 'gh_0123456789ab',
  FromUserName: 'oUser1',
  CreateTime: '1795430000',
  ...rest,
});
const base = {
  channel: 'wechat-oa',
  chatId: 'oUser1',
  chatKind: 'private',
  sender: { id: 'oUser1', lang: 'zh' },
  receivedAt: at,
};

describe('pushes to inbound messages', () => {
  it('text: deduplicated by MsgId', () => {
    expect(
      toInbound(push({ MsgType: 'text', Content: '没气了', MsgId: '24000000000000000001' }), at),
    ).toEqual({
      kind: 'message',
      msg: { ...base, channelMessageId: 'msg:24000000000000000001', text: '没气了' },
    });
  });

  it('image: an attachment referring to its MediaId', () => {
    const c = toInbound(push({ MsgType: 'image', PicUrl: 'http://x/p', MediaId: 'm1', MsgId: '2' }), at);
    expect(c).toMatchObject({ kind: 'message', msg: { attachments: [{ kind: 'image', ref: 'm1' }] } });
  });

  it('voice: the recognised text when there is one, else a voice attachment', () => {
    expect(
      toInbound(
        push({ MsgType: 'voice', MediaId: 'v1', Format: 'amr', Recognition: '报修。', MsgId: '3' }),
        at,
      ),
    ).toMatchObject({ kind: 'message', msg: { text: '报修。' } });
    const bare = toInbound(push({ MsgType: 'voice', MediaId: 'v1', Format: 'amr', MsgId: '4' }), at);
    expect(bare).toMatchObject({ kind: 'message', msg: { attachments: [{ kind: 'voice', ref: 'v1' }] } });
    expect(bare.kind === 'message' && bare.msg.text).toBeFalsy();
  });

  it('location: coordinates and the label (an address candidate)', () => {
    const c = toInbound(
      push({
        MsgType: 'location',
        Location_X: '30.27',
        Location_Y: '120.15',
        Scale: '15',
        Label: '文三路',
        MsgId: '5',
      }),
      at,
    );
    expect(c).toMatchObject({
      kind: 'message',
      msg: {
        attachments: [{ kind: 'location', ref: '30.27,120.15', lat: 30.27, lng: 120.15, label: '文三路' }],
      },
    });
    expect(toInbound(push({ MsgType: 'location', Location_X: 'x', MsgId: '6' }), at).kind).toBe('ignore');
  });

  it('menu CLICK: the EventKey is the action; events are deduplicated by sender, time, event and key', () => {
    const c = toInbound(push({ MsgType: 'event', Event: 'CLICK', EventKey: 'm:repair' }), at);
    expect(c).toEqual({
      kind: 'message',
      msg: { ...base, channelMessageId: 'evt:oUser1:1795430000:click:m:repair', action: 'm:repair' },
    });
  });

  it('subscribe greets (你好); unsubscribe is stored silently; other events are ignored', () => {
    expect(
      toInbound(push({ MsgType: 'event', Event: 'subscribe', EventKey: 'qrscene_1' }), at),
    ).toMatchObject({
      kind: 'message',
      msg: { text: '你好', channelMessageId: 'evt:oUser1:1795430000:subscribe' },
    });
    expect(toInbound(push({ MsgType: 'event', Event: 'unsubscribe' }), at)).toMatchObject({
      kind: 'store',
      event: 'unsubscribe',
    });
    for (const event of ['VIEW', 'LOCATION', 'TEMPLATESENDJOBFINISH', ''])
      expect(toInbound(push({ MsgType: 'event', Event: event }), at).kind).toBe('ignore');
    expect(toInbound(push({ MsgType: 'event', Event: 'CLICK', EventKey: '' }), at).kind).toBe('ignore');
  });

  it('ignores unknown types and pushes without a usable sender', () => {
    expect(toInbound(push({ MsgType: 'miniprogrampage', MsgId: '7' }), at).kind).toBe('ignore');
    expect(toInbound({ MsgType: 'text', Content: 'x', MsgId: '8' }, at).kind).toBe('ignore');
    expect(toInbound(push({ FromUserName: 'bad id!', MsgType: 'text', MsgId: '9' }), at).kind).toBe('ignore');
  });
});

describe('configuration', () => {
  const oa = {
    WECHAT_OA_APP_ID: 'wx0123456789abcdef',
    WECHAT_OA_APP_SECRET: 'secret0123456789abcdef',
    WECHAT_OA_TOKEN: 'token123',
  };
  const key = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';

  it('off without an AppID; plain without an AES key; safe with one unless told otherwise', () => {
    expect(oaConfig(parseEnv({}))).toBeNull();
    expect(oaConfig(parseEnv(oa))?.mode).toBe('plain');
    expect(oaConfig(parseEnv({ ...oa, WECHAT_OA_AES_KEY: key }))?.mode).toBe('safe');
    expect(oaConfig(parseEnv({ ...oa, WECHAT_OA_AES_KEY: key, WECHAT_OA_MODE: 'compatible' }))?.mode).toBe(
      'compatible',
    );
  });

  it('the menu: three CLICK buttons carrying flows actions, names within 16 bytes', () => {
    expect(OA_MENU.button.map((b) => [b.name, b.key])).toEqual([
      ['报修/报警', 'm:repair'],
      ['我的工单', 'm:mycases'],
      ['人工客服', 'm:human'],
    ]);
    for (const b of OA_MENU.button) expect(Buffer.byteLength(b.name)).toBeLessThanOrEqual(16);
  });
});
