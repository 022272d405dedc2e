import type { Attachment, InboundMessage } from '../../../flows/engine/message.ts';
import type { WeChatFields } from './xml.ts';

/** What the subscribe event is taken as: a greeting, so the new follower gets the menu. */
export const SUBSCRIBE_TEXT = '你好';

const OPENID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_ACTION = 128;

/**
 * A push turned into what the bot does with it:
 * - `message`: store and process;
 * - `store`: store as processed, no reply (unsubscribe);
 * - `ignore`: answer `success` and do nothing (events the bot has no use for).
 */
export type Converted =
  | { kind: 'message'; msg: InboundMessage }
  | { kind: 'store'; msg: InboundMessage; event: string }
  | { kind: 'ignore'; reason: string };

const num = (v: string | undefined) => {
  const n = Number(v);
  return v !== undefined && v.trim() !== '' && Number.isFinite(n) ? n : undefined;
};

/**
 * Converts a decrypted push into an InboundMessage. Messages are deduplicated by MsgId, events
 * (which have none) by sender, CreateTime, event and key: WeChat's retries of one push carry the
 * same values, so a retry is stored once.
 */
export function toInbound(f: WeChatFields, receivedAt: Date): Converted {
  const openid = f.FromUserName ?? '';
  if (!OPENID.test(openid)) return { kind: 'ignore', reason: 'no FromUserName' };
  const type = (f.MsgType ?? '').toLowerCase();
  const base = {
    channel: 'wechat-oa' as const,
    chatId: openid,
    chatKind: 'private' as const,
    sender: { id: openid, lang: 'zh' as const },
    receivedAt,
  };
  const messageId = () =>
    f.MsgId && /^\d{1,30}$/.test(f.MsgId) ? `msg:${f.MsgId}` : `msg:${openid}:${f.CreateTime ?? ''}:${type}`;
  const withBody = (extra: Partial<InboundMessage>): Converted => ({
    kind: 'message',
    msg: { ...base, channelMessageId: messageId(), ...extra },
  });
  const media = (kind: Attachment['kind']): Converted =>
    f.MediaId
      ? withBody({ attachments: [{ kind, ref: f.MediaId }] })
      : { kind: 'ignore', reason: `${type} without MediaId` };

  switch (type) {
    case 'text':
      return withBody({ text: f.Content ?? '' });
    case 'image':
      return media('image');
    case 'voice': {
      const recognised = f.Recognition?.trim();
      return recognised ? withBody({ text: recognised }) : media('voice');
    }
    case 'video':
    case 'shortvideo':
      return media('video');
    case 'location': {
      const lat = num(f.Location_X);
      const lng = num(f.Location_Y);
      if (lat === undefined || lng === undefined)
        return { kind: 'ignore', reason: 'location without coordinates' };
      const label = f.Label?.trim() || undefined;
      return withBody({ attachments: [{ kind: 'location', ref: `${lat},${lng}`, lat, lng, label }] });
    }
    case 'link':
      return withBody({ text: [f.Title, f.Url].filter(Boolean).join('\n') });
    case 'event':
      return toEvent(f, base);
    default:
      return { kind: 'ignore', reason: `message type ${type || 'missing'}` };
  }
}

function toEvent(f: WeChatFields, base: Omit<InboundMessage, 'channelMessageId'>): Converted {
  const event = (f.Event ?? '').toLowerCase();
  const id = (key = '') => `evt:${base.chatId}:${f.CreateTime ?? ''}:${event}${key ? `:${key}` : ''}`;
  switch (event) {
    case 'subscribe':
      return { kind: 'message', msg: { ...base, channelMessageId: id(), text: SUBSCRIBE_TEXT } };
    case 'unsubscribe':
      return { kind: 'store', event, msg: { ...base, channelMessageId: id() } };
    case 'click': {
      const key = f.EventKey?.trim() ?? '';
      if (!key || key.length > MAX_ACTION)
        return { kind: 'ignore', reason: 'CLICK without a usable EventKey' };
      return { kind: 'message', msg: { ...base, channelMessageId: id(key), action: key } };
    }
    default:
      // VIEW (a link in the menu), LOCATION (periodic position reports), SCAN, TEMPLATESENDJOBFINISH…
      return { kind: 'ignore', reason: `event ${event || 'missing'}` };
  }
}
