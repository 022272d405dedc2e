import { describe, expect, it } from 'vitest';
import { callbackKey, encodeCallback, INVALID_ACTION } from '../../../../src/bot/telegram/callback-data.ts';
import {
  commandText,
  isUpdate,
  type TgUpdate,
  type TgUser,
  updateToInbound,
} from '../../../../src/bot/telegram/updates.ts';

const key = callbackKey('123456:TEST-token-abcdefghijklmnopqrstuvwxyz');
const now = new Date('2026-11-23T02:00:00Z');
const opts = { callbackKey: key, botUsername: 'gas_bot', now };
const alice: TgUser = {
  id: 1001,
  is_bot: false,
  first_name: 'Alice',
  last_name: 'Li',
  language_code: 'zh-hans',
};
const privateChat = { id: 1001, type: 'private' };
const group = { id: -100200, type: 'supergroup', title: '抢修班' };

const message = (extra: Record<string, unknown>, chat = privateChat, from: TgUser = alice): TgUpdate => ({
  update_id: 500,
  message: { message_id: 7, date: 1_700_000_000, chat, from, ...extra },
});

describe('updateToInbound', () => {
  it('a private text message: ids as strings, the update id as dedup key, zh by default', () => {
    const out = updateToInbound(message({ text: '没气了' }), opts);
    expect(out).toEqual({
      msg: {
        channel: 'telegram',
        channelMessageId: 'u500:1001:7',
        chatId: '1001',
        chatKind: 'private',
        sender: { id: '1001', name: 'Alice Li', lang: 'zh' },
        text: '没气了',
        receivedAt: now,
      },
    });
  });

  it('English for language codes starting with en', () => {
    const en = updateToInbound(
      message({ text: 'hi' }, privateChat, { ...alice, language_code: 'en-GB' }),
      opts,
    );
    expect(en?.msg.sender.lang).toBe('en');
    const none = updateToInbound(message({ text: 'hi' }, privateChat, { id: 5, first_name: 'X' }), opts);
    expect(none?.msg.sender.lang).toBe('zh');
  });

  it('group and supergroup chats are groups; channels and bots are ignored', () => {
    expect(updateToInbound(message({ text: '/help' }, group), opts)?.msg.chatKind).toBe('group');
    expect(updateToInbound(message({ text: '/help' }, { id: -5, type: 'group' }), opts)?.msg.chatKind).toBe(
      'group',
    );
    expect(updateToInbound(message({ text: 'x' }, { id: -1009, type: 'channel' }), opts)).toBeNull();
    expect(updateToInbound(message({ text: 'x' }, privateChat, { ...alice, is_bot: true }), opts)).toBeNull();
    expect(updateToInbound({ update_id: 1 }, opts)).toBeNull();
  });

  it('staff identity is the user id, never the username', () => {
    const out = updateToInbound(
      message({ text: '/take 100023' }, group, { ...alice, id: 2001, username: 'wang_shifu' }),
      opts,
    );
    expect(out?.msg.sender.id).toBe('2001');
  });

  it('commands: private ones mapped to the words the flows know, @BotName stripped in groups', () => {
    const text = (t: string, chat = privateChat) =>
      updateToInbound(message({ text: t }, chat), opts)?.msg.text;
    expect(text('/start')).toBe('menu');
    expect(text('/start deep-link-payload')).toBe('menu');
    expect(text('/menu@gas_bot')).toBe('menu');
    expect(text('/help')).toBe('help');
    expect(text('/cancel')).toBe('cancel');
    expect(text('/register ABC123')).toBe('/register ABC123');
    expect(text('/take@gas_bot 100023', group)).toBe('/take 100023');
    expect(text('/take@GAS_BOT 100023', group)).toBe('/take 100023');
    expect(text('/bind@gas_bot K7Q2', group)).toBe('/bind K7Q2');
    expect(text('/help', group)).toBe('/help');
    // A command for another bot in the group is not ours.
    expect(updateToInbound(message({ text: '/start@other_bot' }, group), opts)).toBeNull();
    expect(commandText('/take@x_bot 1', 'group')).toBe('/take 1');
    expect(commandText('/ not a command', 'private')).toBe('/ not a command');
  });

  it('photos: the largest size, with the caption as text; voice and location', () => {
    const photo = updateToInbound(
      message({
        caption: '表坏了',
        photo: [
          { file_id: 'small', width: 90, height: 60 },
          { file_id: 'large', width: 1280, height: 960 },
          { file_id: 'medium', width: 320, height: 240 },
        ],
      }),
      opts,
    );
    expect(photo?.msg.text).toBe('表坏了');
    expect(photo?.msg.attachments).toEqual([{ kind: 'image', ref: 'large' }]);
    const voice = updateToInbound(message({ voice: { file_id: 'v1', duration: 3 } }), opts);
    expect(voice?.msg.attachments).toEqual([{ kind: 'voice', ref: 'v1' }]);
    expect(voice?.msg.text).toBeUndefined();
    const place = updateToInbound(message({ location: { latitude: 30.27, longitude: 120.15 } }), opts);
    expect(place?.msg.attachments).toEqual([
      { kind: 'location', ref: '30.27,120.15', lat: 30.27, lng: 120.15, label: '30.27,120.15' },
    ]);
  });

  it('service messages in a group are skipped; an empty private message still reaches the flows', () => {
    expect(updateToInbound(message({ new_chat_members: [] }, group), opts)).toBeNull();
    expect(updateToInbound(message({ sticker: {} }), opts)?.msg.text).toBeUndefined();
  });

  it('a signed button press becomes the action; a forged one becomes "invalid"', () => {
    const press = (data: string | undefined, chat = privateChat): TgUpdate => ({
      update_id: 600,
      callback_query: { id: 'q1', from: alice, message: { message_id: 9, chat }, data },
    });
    const good = updateToInbound(press(encodeCallback(key, '1001', 'm:repair').data), opts);
    expect(good?.msg).toMatchObject({
      channelMessageId: 'u600:qq1',
      chatId: '1001',
      action: 'm:repair',
      sender: { id: '1001' },
    });
    expect(good?.callbackQueryId).toBe('q1');
    expect(updateToInbound(press('m:repair'), opts)?.msg.action).toBe(INVALID_ACTION);
    expect(updateToInbound(press(undefined), opts)?.msg.action).toBe(INVALID_ACTION);
    // Signed for the group, pressed (forged) in a private chat.
    const groupData = encodeCallback(key, '-100200', 'case:100023:take').data;
    expect(updateToInbound(press(groupData), opts)?.msg.action).toBe(INVALID_ACTION);
    expect(updateToInbound(press(groupData, group), opts)?.msg).toMatchObject({
      chatKind: 'group',
      action: 'case:100023:take',
    });
    const long = encodeCallback(key, '1001', `c:repair:category:${'x'.repeat(40)}`);
    expect(updateToInbound(press(long.data), opts)?.callback).toEqual({ kind: 'ref', ref: long.stash?.ref });
  });

  it('drops U+0000, which PostgreSQL cannot store', () => {
    const out = updateToInbound(
      message({ text: 'a\u0000b' }, privateChat, { ...alice, first_name: 'A\u0000' }),
      opts,
    );
    expect(out?.msg.text).toBe('ab');
    expect(out?.msg.sender.name).toBe('A Li');
  });

  it('a group upgraded to a supergroup: both service messages carry the move, whoever sent them', () => {
    const old = { id: -4001, type: 'group', title: '抢修班' };
    const moved = { id: -1004001, type: 'supergroup', title: '抢修班' };
    const anonymousAdmin: TgUser = { id: 1087968824, is_bot: true, first_name: 'Group' };
    const inOld = updateToInbound(message({ migrate_to_chat_id: -1004001 }, old, anonymousAdmin), opts);
    expect(inOld?.msg).toEqual({
      channel: 'telegram',
      channelMessageId: 'u500:-4001:7',
      chatId: '-4001',
      chatKind: 'group',
      sender: { id: '1087968824' },
      chatMoved: { from: '-4001', to: '-1004001' },
      receivedAt: now,
    });
    const inNew = updateToInbound(message({ migrate_from_chat_id: -4001 }, moved), opts);
    expect(inNew?.msg.chatMoved).toEqual({ from: '-4001', to: '-1004001' });
    expect(inNew?.msg.chatId).toBe('-1004001');
    // Only groups move; a notice pointing at the chat itself is nothing.
    expect(updateToInbound(message({ migrate_to_chat_id: 5 }, privateChat), opts)).toBeNull();
    expect(updateToInbound(message({ migrate_from_chat_id: -1004001 }, moved), opts)).toBeNull();
    // An ordinary group message carries no move.
    expect(updateToInbound(message({ text: '/help' }, moved), opts)?.msg.chatMoved).toBeUndefined();
  });

  it('isUpdate checks the update id', () => {
    expect(isUpdate({ update_id: 1 })).toBe(true);
    expect(isUpdate({ update_id: '1' })).toBe(false);
    expect(isUpdate(null)).toBe(false);
  });
});
