import type { Message } from 'wechaty';
import { types } from 'wechaty';
import type { Attachment, InboundMessage } from '../../../flows/engine/message.ts';

/** What the translation needs from a wechaty message, read once (the reads are async and may fail). */
export interface WechatyMessageFacts {
  id: string;
  self: boolean;
  type: types.Message;
  text: string;
  /** Set for a room (group) message. */
  roomId?: string;
  talkerId: string;
  talkerName?: string;
  talkerType?: types.Contact;
  /** The bot's own names in this conversation (its name, its alias in the room). */
  botNames: string[];
  /** The message @mentions the bot (the puppet's mention list). */
  mentionSelf: boolean;
  location?: { label?: string; lat?: number; lng?: number };
}

// WeChat puts U+2005 (four-per-em space) after an @mention; people type ordinary spaces.
const MENTION_GAP = /^[\u2005\u0020\u00a0\u3000]+/;

/**
 * Strips a leading @mention of the bot ("@燃气客服 接单 100023" → "接单 100023"). A mention of
 * someone else is left alone. When the puppet says the bot was mentioned but the name does not
 * match (a WeCom display name, a renamed group alias), the leading "@… " up to WeChat's
 * mention separator is taken as the bot's.
 */
export function stripLeadingMention(text: string, botNames: string[], mentionSelf = false): string {
  const trimmed = text.replace(/^\s+/, '');
  if (!trimmed.startsWith('@')) return text;
  const names = [...new Set(botNames.filter((n) => n.trim() !== ''))].sort((a, b) => b.length - a.length);
  for (const name of names) {
    const after = trimmed.slice(1);
    if (!after.startsWith(name)) continue;
    const rest = after.slice(name.length);
    if (rest === '') return '';
    if (MENTION_GAP.test(rest)) return rest.replace(MENTION_GAP, '').trim();
  }
  if (mentionSelf) {
    const gap = trimmed.indexOf('\u2005');
    if (gap > 0) return trimmed.slice(gap + 1).trim();
  }
  return text;
}

// Not something a person said: recalls, group notices (joins, renames), system tips.
const IGNORED = new Set<types.Message>([
  types.Message.Recalled,
  types.Message.GroupNote,
  types.Message.ChatHistory,
  types.Message.Post,
]);

const MEDIA: Partial<Record<types.Message, Attachment['kind']>> = {
  [types.Message.Image]: 'image',
  [types.Message.Audio]: 'voice',
  [types.Message.Video]: 'video',
  [types.Message.Attachment]: 'file',
};

/**
 * A wechaty message as the flows' InboundMessage, or null when it is not for the flows: the
 * bot's own sends, official accounts' pushes, recalls and system notices. Room messages are
 * group messages of the room; 1:1 messages are private chats addressed by the contact's id.
 * Images, voice, video and files become attachments whose ref is the message id (the puppet
 * fetches the media by it); a shared location becomes a location with its address as label.
 * Anything else (stickers, links, mini programs, transfers) becomes a message without text,
 * which the flows answer by asking again. In rooms such messages are dropped: staff groups only
 * act on commands.
 */
export function translate(f: WechatyMessageFacts, receivedAt = new Date()): InboundMessage | null {
  if (f.self || IGNORED.has(f.type)) return null;
  if (f.talkerType === types.Contact.Official) return null;
  const group = Boolean(f.roomId);
  const base = {
    channel: 'wechaty' as const,
    channelMessageId: f.id,
    chatId: f.roomId ?? f.talkerId,
    chatKind: group ? ('group' as const) : ('private' as const),
    sender: { id: f.talkerId, ...(f.talkerName ? { name: f.talkerName } : {}) },
    receivedAt,
  };
  if (f.type === types.Message.Text) {
    const text = group ? stripLeadingMention(f.text, f.botNames, f.mentionSelf) : f.text;
    if (group && !text.trim()) return null; // a bare "@bot"
    return { ...base, text };
  }
  const kind = MEDIA[f.type];
  if (kind) return { ...base, attachments: [{ kind, ref: f.id }] };
  if (f.type === types.Message.Location && f.location) {
    const { label, lat, lng } = f.location;
    return {
      ...base,
      attachments: [
        {
          kind: 'location',
          ref: f.id,
          ...(label ? { label } : {}),
          ...(lat !== undefined ? { lat } : {}),
          ...(lng !== undefined ? { lng } : {}),
        },
      ],
    };
  }
  return group ? null : base;
}

const safe = async <T>(read: () => T | Promise<T>): Promise<T | undefined> => {
  try {
    return await read();
  } catch {
    return undefined;
  }
};

/** Reads the facts the translation needs from a wechaty message. */
export async function readMessage(msg: Message): Promise<WechatyMessageFacts> {
  const room = msg.room();
  const talker = msg.talker();
  const type = msg.type();
  const text = type === types.Message.Text ? (msg.text() ?? '') : '';
  const facts: WechatyMessageFacts = {
    id: msg.id,
    self: msg.self(),
    type,
    text,
    talkerId: talker.id,
    talkerName: (await safe(() => talker.name())) || undefined,
    talkerType: await safe(() => talker.type()),
    botNames: [],
    mentionSelf: false,
  };
  if (room) {
    facts.roomId = room.id;
    if (text.trimStart().startsWith('@')) {
      const me = await safe(() => msg.wechaty.currentUser);
      const names = [await safe(() => me?.name()), me ? await safe(() => room.alias(me)) : undefined];
      facts.botNames = names.filter((n): n is string => Boolean(n));
      facts.mentionSelf = (await safe(() => msg.mentionSelf())) ?? false;
    }
  }
  if (type === types.Message.Location) {
    // msg.toLocation() throws in wechaty 1.20 ("WUC can not be instantiated directly"): ask the
    // puppet for the payload instead.
    const place = await safe(() => msg.wechaty.puppet.messageLocation(msg.id));
    if (place)
      facts.location = {
        label: place.address || place.name || undefined,
        lat: place.latitude,
        lng: place.longitude,
      };
  }
  return facts;
}

/** A wechaty message as an InboundMessage (see `translate`). */
export async function toInbound(msg: Message, receivedAt = new Date()): Promise<InboundMessage | null> {
  if (msg.self()) return null;
  return translate(await readMessage(msg), receivedAt);
}
