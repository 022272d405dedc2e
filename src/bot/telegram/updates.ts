import type { Attachment, ChatKind, InboundMessage, Lang } from '../../flows/engine/message.ts';
import { type DecodedCallback, decodeCallback, INVALID_ACTION } from './callback-data.ts';

// The parts of the Bot API's Update this channel reads (webhook JSON and getUpdates alike).
export interface TgUser {
  id: number;
  is_bot?: boolean;
  first_name?: string;
  last_name?: string;
  username?: string;
  language_code?: string;
}
export interface TgChat {
  id: number;
  type: string;
  title?: string;
}
interface TgFile {
  file_id: string;
  /** The same for a file whatever bot or time (a file id is not); names the local copy. */
  file_unique_id?: string;
}
export type TgPhotoSize = TgFile & { width?: number; height?: number; file_size?: number };
export interface TgMessage {
  message_id: number;
  chat: TgChat;
  from?: TgUser;
  date?: number;
  text?: string;
  caption?: string;
  photo?: TgPhotoSize[];
  voice?: TgFile;
  audio?: TgFile;
  video?: TgFile;
  video_note?: TgFile;
  document?: TgFile & { mime_type?: string };
  location?: { latitude: number; longitude: number };
  venue?: { location: { latitude: number; longitude: number }; title?: string; address?: string };
  contact?: { phone_number?: string };
  /** Service messages of a group upgraded to a supergroup: in the old group, and in the new one. */
  migrate_to_chat_id?: number;
  migrate_from_chat_id?: number;
}
export interface TgCallbackQuery {
  id: string;
  from: TgUser;
  message?: { message_id: number; chat: TgChat };
  data?: string;
}
export interface TgUpdate {
  update_id: number;
  message?: TgMessage;
  callback_query?: TgCallbackQuery;
}

/** The kinds of update the bot asks Telegram for (getUpdates and setWebhook). */
export const ALLOWED_UPDATES = ['message', 'callback_query'] as const;

export interface ConvertOptions {
  /** Key that signs buttons (`callbackKey(token)`). */
  callbackKey: Buffer;
  /** The bot's username (from getMe): commands addressed to another bot are ignored. */
  botUsername?: string;
  now?: Date;
}

export interface ConvertedUpdate {
  msg: InboundMessage;
  /** For a button press: the query to answer. */
  callbackQueryId?: string;
  /** How the button's payload checked out; `ref` must be looked up before the message is stored. */
  callback?: DecodedCallback;
}

/** A minimal shape check for JSON that claims to be an update. */
export function isUpdate(body: unknown): body is TgUpdate {
  return (
    typeof body === 'object' &&
    body !== null &&
    Number.isSafeInteger((body as { update_id?: unknown }).update_id)
  );
}

export function chatKindOf(chat: TgChat): ChatKind | null {
  if (chat.type === 'private') return 'private';
  if (chat.type === 'group' || chat.type === 'supergroup') return 'group';
  return null; // channels: the bot serves none
}

/** English for users whose Telegram language starts with `en`, Chinese otherwise. */
export function langOf(user: TgUser): Lang {
  return user.language_code?.toLowerCase().startsWith('en') ? 'en' : 'zh';
}

/** PostgreSQL's jsonb refuses U+0000: such an update could never be stored and would block polling. */
const clean = (s: string) => s.replaceAll('\u0000', '');

function nameOf(user: TgUser): string | undefined {
  const full = clean([user.first_name, user.last_name].filter(Boolean).join(' ')).trim();
  return full || user.username || undefined;
}

/** What private-chat commands mean to the flows. */
const PRIVATE_COMMANDS: Record<string, string> = {
  start: 'menu',
  menu: 'menu',
  help: 'help',
  cancel: 'cancel',
};

/**
 * A command's text as the flows read it: `/take@gas_bot 100023` → `/take 100023`; in a private
 * chat `/start` and `/menu` → `menu`, `/help` → `help`, `/cancel` → `cancel`. Null when the
 * command is addressed to another bot.
 */
export function commandText(text: string, chatKind: ChatKind, botUsername?: string): string | null {
  const m = /^\/([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9_]{1,64}))?(?=\s|$)([\s\S]*)$/.exec(text);
  if (!m) return text;
  const [, command, bot, rest] = m as unknown as [string, string, string | undefined, string];
  if (bot && botUsername && bot.toLowerCase() !== botUsername.toLowerCase()) return null;
  const meaning = chatKind === 'private' ? PRIVATE_COMMANDS[command.toLowerCase()] : undefined;
  return meaning ?? `/${command}${rest}`;
}

/** The largest size of a message's photo (the one kept as its attachment), if it has one. */
export function largestPhoto(m: TgMessage): TgPhotoSize | undefined {
  if (!Array.isArray(m.photo) || m.photo.length === 0) return undefined;
  // Telegram lists the sizes smallest first; pick the largest by area, then by bytes.
  const area = (p: { width?: number; height?: number }) => (p.width ?? 0) * (p.height ?? 0);
  return m.photo.reduce((best, p) =>
    area(p) > area(best) || (area(p) === area(best) && (p.file_size ?? 0) >= (best.file_size ?? 0))
      ? p
      : best,
  );
}

function attachmentsOf(m: TgMessage): Attachment[] {
  const out: Attachment[] = [];
  const photo = largestPhoto(m);
  if (photo) out.push({ kind: 'image', ref: photo.file_id });
  if (m.voice) out.push({ kind: 'voice', ref: m.voice.file_id });
  if (m.audio) out.push({ kind: 'voice', ref: m.audio.file_id });
  if (m.video) out.push({ kind: 'video', ref: m.video.file_id });
  if (m.video_note) out.push({ kind: 'video', ref: m.video_note.file_id });
  if (m.document)
    out.push({
      kind: m.document.mime_type?.startsWith('image/') ? 'image' : 'file',
      ref: m.document.file_id,
    });
  const place = m.venue?.location ?? m.location;
  if (place) {
    const coords = `${place.latitude},${place.longitude}`;
    const named = [m.venue?.title, m.venue?.address].filter(Boolean).join(' ');
    out.push({
      kind: 'location',
      ref: coords,
      lat: place.latitude,
      lng: place.longitude,
      label: named ? `${named} (${coords})` : coords,
    });
  }
  return out;
}

/**
 * Turns a Telegram update into the channel-neutral message the flows handle, or null for what
 * the bot does not serve (channels, other bots, edits, commands for another bot). Pure.
 * The deduplication key is the update id (with the chat and message, which a redelivery keeps).
 */
export function updateToInbound(update: TgUpdate, opts: ConvertOptions): ConvertedUpdate | null {
  const receivedAt = opts.now ?? new Date();
  const q = update.callback_query;
  if (q) {
    const chat = q.message?.chat;
    const chatKind = chat ? chatKindOf(chat) : null;
    if (!chat || !chatKind || q.from.is_bot) return null;
    const chatId = String(chat.id);
    const callback = decodeCallback(opts.callbackKey, chatId, q.data);
    return {
      msg: {
        channel: 'telegram',
        channelMessageId: `u${update.update_id}:q${q.id}`,
        chatId,
        chatKind,
        sender: { id: String(q.from.id), name: nameOf(q.from), lang: langOf(q.from) },
        action: callback.kind === 'action' ? callback.action : INVALID_ACTION,
        receivedAt,
      },
      callbackQueryId: q.id,
      callback,
    };
  }
  const m = update.message;
  if (m && (m.migrate_to_chat_id || m.migrate_from_chat_id))
    return migration(update.update_id, m, receivedAt);
  if (!m?.from || m.from.is_bot) return null;
  const chatKind = chatKindOf(m.chat);
  if (!chatKind) return null;
  const raw = m.text || m.caption || m.contact?.phone_number;
  let text = raw ? clean(raw) : undefined;
  if (text?.startsWith('/')) {
    const command = commandText(text, chatKind, opts.botUsername);
    if (command === null) return null;
    text = command;
  }
  const attachments = attachmentsOf(m);
  // Service messages in groups (members joining, a pinned message) carry nothing to handle.
  if (chatKind === 'group' && !text && attachments.length === 0) return null;
  const chatId = String(m.chat.id);
  return {
    msg: {
      channel: 'telegram',
      channelMessageId: `u${update.update_id}:${chatId}:${m.message_id}`,
      chatId,
      chatKind,
      sender: { id: String(m.from.id), name: nameOf(m.from), lang: langOf(m.from) },
      ...(text !== undefined ? { text } : {}),
      ...(attachments.length > 0 ? { attachments } : {}),
      receivedAt,
    },
  };
}

/**
 * A group upgraded to a supergroup: Telegram posts a service message in the old group (with the
 * new id) and one in the new supergroup (with the old id). Either moves the team binding; the
 * second finds it moved. Its sender may be an anonymous admin (a bot account), so it is not
 * checked: the notice comes from Telegram, and the flows trust only these two ids of it.
 */
function migration(updateId: number, m: TgMessage, receivedAt: Date): ConvertedUpdate | null {
  if (chatKindOf(m.chat) !== 'group') return null;
  const here = String(m.chat.id);
  const from = m.migrate_from_chat_id ? String(m.migrate_from_chat_id) : here;
  const to = m.migrate_to_chat_id ? String(m.migrate_to_chat_id) : here;
  if (from === to || !Number.isSafeInteger(Number(from)) || !Number.isSafeInteger(Number(to))) return null;
  return {
    msg: {
      channel: 'telegram',
      channelMessageId: `u${updateId}:${here}:${m.message_id}`,
      chatId: here,
      chatKind: 'group',
      sender: { id: String(m.from?.id ?? 0) },
      chatMoved: { from, to },
      receivedAt,
    },
  };
}
