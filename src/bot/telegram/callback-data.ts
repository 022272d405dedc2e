import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Telegram's limit on `callback_data`, in bytes. */
export const CALLBACK_DATA_MAX_BYTES = 64;
/** The action the flows get for a button whose payload was forged, tampered with or has expired. */
export const INVALID_ACTION = 'invalid';

const SIG_CHARS = 8;
const REF_MARK = '#';
const REF_CHARS = 16;

/** The signing key for buttons, derived from the bot token (the same in every process of one bot). */
export function callbackKey(token: string): Buffer {
  return createHmac('sha256', token).update('gas-service-bot/telegram/callback-data/v1').digest();
}

/** 8 base64url characters (48 bits) of HMAC over the chat and the payload: a button only works in its own chat. */
function signature(key: Buffer, chatId: string, body: string): string {
  return createHmac('sha256', key).update(`${chatId}\n${body}`).digest('base64url').slice(0, SIG_CHARS);
}

/** The short reference of an action too long to fit in a button (a content hash, same in every process). */
export function actionRef(action: string): string {
  return createHash('sha256').update(action).digest('base64url').slice(0, REF_CHARS);
}

export interface EncodedCallback {
  /** What goes in `callback_data`: `<action>|<sig>` or, for a long action, `#<ref>|<sig>`. */
  data: string;
  /** Set when the action did not fit: the caller must store `ref → action` before sending the button. */
  stash?: { ref: string; action: string };
}

/**
 * Signs a button's action for one chat. An action whose signed form would exceed 64 bytes (or
 * that starts with `#`) is replaced by a short reference that the caller stores server-side.
 */
export function encodeCallback(key: Buffer, chatId: string, action: string): EncodedCallback {
  const direct = `${action}|${signature(key, chatId, action)}`;
  if (!action.startsWith(REF_MARK) && Buffer.byteLength(direct, 'utf8') <= CALLBACK_DATA_MAX_BYTES)
    return { data: direct };
  const ref = actionRef(action);
  const body = `${REF_MARK}${ref}`;
  return { data: `${body}|${signature(key, chatId, body)}`, stash: { ref, action } };
}

export type DecodedCallback =
  | { kind: 'action'; action: string }
  | { kind: 'ref'; ref: string }
  | { kind: 'invalid'; reason: 'missing' | 'unsigned' | 'bad-signature' };

/** Checks a pressed button's payload against the chat it was pressed in. */
export function decodeCallback(key: Buffer, chatId: string, data: string | undefined): DecodedCallback {
  if (!data) return { kind: 'invalid', reason: 'missing' };
  const bar = data.lastIndexOf('|');
  if (bar < 0) return { kind: 'invalid', reason: 'unsigned' };
  const body = data.slice(0, bar);
  const given = Buffer.from(data.slice(bar + 1), 'utf8');
  const expected = Buffer.from(signature(key, chatId, body), 'utf8');
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { kind: 'invalid', reason: 'bad-signature' };
  if (body.startsWith(REF_MARK)) return { kind: 'ref', ref: body.slice(REF_MARK.length) };
  return { kind: 'action', action: body };
}
