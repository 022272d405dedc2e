import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { types, type Wechaty, WechatyBuilder } from 'wechaty';
import { deferredWechatySender, wechatyConfigured } from '../../../../src/bot/wechat/wechaty/deferred.ts';
import { renderForWechaty } from '../../../../src/bot/wechat/wechaty/render.ts';
import { looksLikeRoom } from '../../../../src/bot/wechat/wechaty/sender.ts';
import {
  stripLeadingMention,
  toInbound,
  translate,
  type WechatyMessageFacts,
} from '../../../../src/bot/wechat/wechaty/translate.ts';
import type { InboundMessage } from '../../../../src/flows/engine/message.ts';
import { SendError } from '../../../../src/workers/senders.ts';
import { deliver, logIn, type MockContact, mockWechat } from '../../../fixtures/wechaty-mock.ts';

const at = new Date('2026-11-23T02:00:00Z');
const facts = (over: Partial<WechatyMessageFacts>): WechatyMessageFacts => ({
  id: 'm1',
  self: false,
  type: types.Message.Text,
  text: '',
  talkerId: 'wxid_alice',
  talkerName: 'Alice',
  botNames: ['燃气客服'],
  mentionSelf: false,
  ...over,
});

describe('stripLeadingMention', () => {
  it('strips the bot at the start, with WeChat’s U+2005 or a typed space', () => {
    expect(stripLeadingMention('@燃气客服\u2005接单 100023', ['燃气客服'])).toBe('接单 100023');
    expect(stripLeadingMention('@燃气客服 接单 100023', ['燃气客服'])).toBe('接单 100023');
    expect(stripLeadingMention('  @燃气客服  /bind ABCD2345', ['燃气客服'])).toBe('/bind ABCD2345');
    expect(stripLeadingMention('@燃气客服', ['燃气客服'])).toBe('');
  });

  it('uses the room alias too, the longest name first', () => {
    expect(stripLeadingMention('@燃气客服小助手 接单 7', ['燃气客服', '燃气客服小助手'])).toBe('接单 7');
  });

  it('leaves other mentions, and names that only start like the bot’s', () => {
    expect(stripLeadingMention('@王师傅 你先去', ['燃气客服'])).toBe('@王师傅 你先去');
    expect(stripLeadingMention('@燃气客服呢 在吗', ['燃气客服'])).toBe('@燃气客服呢 在吗');
    expect(stripLeadingMention('接单 @燃气客服', ['燃气客服'])).toBe('接单 @燃气客服');
  });

  it('trusts the puppet’s mention list when the display name differs', () => {
    expect(stripLeadingMention('@客服-燃气公司\u2005到达 9', ['燃气客服'], true)).toBe('到达 9');
    expect(stripLeadingMention('@客服-燃气公司\u2005到达 9', ['燃气客服'], false)).toBe(
      '@客服-燃气公司\u2005到达 9',
    );
  });
});

describe('translate', () => {
  it('a 1:1 text is a private message addressed by the contact id', () => {
    expect(translate(facts({ text: '你好' }), at)).toEqual<InboundMessage>({
      channel: 'wechaty',
      channelMessageId: 'm1',
      chatId: 'wxid_alice',
      chatKind: 'private',
      sender: { id: 'wxid_alice', name: 'Alice' },
      text: '你好',
      receivedAt: at,
    });
  });

  it('a room text is a group message of the room, without the leading @bot', () => {
    const msg = translate(facts({ roomId: 'r1@chatroom', text: '@燃气客服\u2005接单 100023' }), at);
    expect(msg).toMatchObject({ chatId: 'r1@chatroom', chatKind: 'group', sender: { id: 'wxid_alice' } });
    expect(msg?.text).toBe('接单 100023');
    // Only a bare mention: nothing to act on.
    expect(translate(facts({ roomId: 'r1@chatroom', text: '@燃气客服' }), at)).toBeNull();
  });

  it('in a 1:1 chat the text is kept as typed', () => {
    expect(translate(facts({ text: '@燃气客服 你好' }), at)?.text).toBe('@燃气客服 你好');
  });

  it('media become attachments referenced by the message id', () => {
    const kinds: [types.Message, string][] = [
      [types.Message.Image, 'image'],
      [types.Message.Audio, 'voice'],
      [types.Message.Video, 'video'],
      [types.Message.Attachment, 'file'],
    ];
    for (const [type, kind] of kinds) {
      const msg = translate(facts({ id: 'img-7', type }), at);
      expect(msg?.attachments).toEqual([{ kind, ref: 'img-7' }]);
      expect(msg?.text).toBeUndefined();
    }
  });

  it('a shared location is a location attachment labelled with its address', () => {
    const msg = translate(
      facts({
        type: types.Message.Location,
        location: { label: '西湖区文三路 100 号', lat: 30.2, lng: 120.1 },
      }),
      at,
    );
    expect(msg?.attachments).toEqual([
      { kind: 'location', ref: 'm1', label: '西湖区文三路 100 号', lat: 30.2, lng: 120.1 },
    ]);
  });

  it('stickers, links and the like are text-less messages privately, dropped in rooms', () => {
    for (const type of [types.Message.Emoticon, types.Message.Url, types.Message.MiniProgram]) {
      const msg = translate(facts({ type }), at);
      expect(msg).toMatchObject({ chatKind: 'private', chatId: 'wxid_alice' });
      expect(msg?.text).toBeUndefined();
      expect(msg?.attachments).toBeUndefined();
      expect(translate(facts({ type, roomId: 'r1@chatroom' }), at)).toBeNull();
    }
  });

  it('ignores the bot’s own messages, recalls, group notices and official accounts', () => {
    expect(translate(facts({ self: true, text: 'x' }), at)).toBeNull();
    expect(translate(facts({ type: types.Message.Recalled }), at)).toBeNull();
    expect(translate(facts({ type: types.Message.GroupNote, roomId: 'r1@chatroom' }), at)).toBeNull();
    expect(translate(facts({ text: '推文', talkerType: types.Contact.Official }), at)).toBeNull();
  });
});

describe('renderForWechaty', () => {
  it('a card tells staff what to type instead of numbering buttons', () => {
    const text = renderForWechaty({
      text: '【报修】工单 100023\n状态：已接单',
      choices: [
        { label: '到达', action: 'case:100023:arrive' },
        { label: '完成', action: 'case:100023:resolve' },
      ],
      caseId: 100023,
    });
    expect(text).toBe('【报修】工单 100023\n状态：已接单\n\n回复「到达 100023」或「完成 100023」');
  });

  it('dialogue choices stay numbered', () => {
    const text = renderForWechaty({
      text: '是否一次修复？',
      choices: [
        { label: '是', action: 'c:resolve:firstTime:yes' },
        { label: '否', action: 'c:resolve:firstTime:no' },
      ],
    });
    expect(text).toBe('是否一次修复？\n\n1. 是\n2. 否');
  });
});

describe('sender helpers', () => {
  it('room ids look like rooms', () => {
    expect(looksLikeRoom('20001234567@chatroom')).toBe(true);
    expect(looksLikeRoom('R:10696051234567')).toBe(true);
    expect(looksLikeRoom('wxid_abc')).toBe(false);
  });

  it('the channel is on with a puppet name or a puppet-service token', () => {
    expect(wechatyConfigured({})).toBe(false);
    expect(wechatyConfigured({ WECHATY_PUPPET: 'wechaty-puppet-wechat4u' })).toBe(true);
    expect(wechatyConfigured({ WECHATY_PUPPET_SERVICE_TOKEN: 'puppet_workpro_x' })).toBe(true);
  });

  it('a process without the bot defers wechaty rows instead of failing them', async () => {
    const err = await deferredWechatySender
      .send({ outboxId: 1, chatId: 'x', reply: { text: 'hi' } })
      .catch((e) => e);
    expect(err).toBeInstanceOf(SendError);
    expect((err as SendError).opts.retryAfterMs).toBeGreaterThan(0);
  });
});

describe('toInbound on real wechaty messages (PuppetMock)', () => {
  const world = mockWechat();
  let bot: Wechaty;
  let me: MockContact;
  let alice: MockContact;
  let wang: MockContact;
  let roomId: string;
  const seen: (InboundMessage | null)[] = [];

  beforeAll(async () => {
    bot = WechatyBuilder.build({ puppet: world.puppet });
    bot.on('error', () => {});
    bot.on('message', async (msg) => {
      seen.push(await toInbound(msg));
    });
    await bot.start();
    me = world.mocker.createContact({ name: '燃气客服' });
    alice = world.mocker.createContact({ name: 'Alice' });
    wang = world.mocker.createContact({ name: '王师傅' });
    roomId = world.mocker.createRoom({ topic: '抢修班', memberIdList: [me.id, alice.id, wang.id] }).id;
    await logIn(world, bot, me);
  });
  afterAll(async () => {
    await bot?.stop();
  });

  const nextSeen = async (count: number) => {
    const until = Date.now() + 5000;
    while (seen.length < count && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    return seen[count - 1];
  };

  it('reads a 1:1 text, a room command with @bot, an image, and skips the bot’s own', async () => {
    deliver(world, { talkerId: alice.id, listenerId: me.id, type: types.Message.Text, text: '你好' });
    expect(await nextSeen(1)).toMatchObject({
      chatKind: 'private',
      chatId: alice.id,
      sender: { id: alice.id, name: 'Alice' },
      text: '你好',
    });

    deliver(world, {
      talkerId: wang.id,
      roomId,
      type: types.Message.Text,
      text: '@燃气客服\u2005接单 100023',
      mentionIdList: [me.id],
    });
    expect(await nextSeen(2)).toMatchObject({ chatKind: 'group', chatId: roomId, text: '接单 100023' });

    const imageId = deliver(world, { talkerId: alice.id, listenerId: me.id, type: types.Message.Image });
    expect((await nextSeen(3))?.attachments).toEqual([{ kind: 'image', ref: imageId }]);

    deliver(world, { talkerId: alice.id, listenerId: me.id, type: types.Message.Location });
    const place = (await nextSeen(4))?.attachments?.[0];
    expect(place).toMatchObject({ kind: 'location' });
    expect(place?.label).toBeTruthy();

    const room = await bot.Room.find({ id: roomId });
    await room!.say('收到');
    expect(await nextSeen(5)).toBeNull();
  });
});
