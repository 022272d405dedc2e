import type { Redis } from 'ioredis';
import type { Telegram } from 'telegraf';
import type { Logger } from '../../log.ts';
import { type ChannelSender, type OutboundDelivery, SendError } from '../../workers/senders.ts';
import { API_TIMEOUT_MS, type ApiSignal, apiFailure, apiSignal, createTelegramApi } from './api.ts';
import { callbackKey, encodeCallback } from './callback-data.ts';
import { telegramKeyBase } from './keys.ts';
import { createRateLimiter, type RateLimits } from './rate-limit.ts';
import { type InlineKeyboard, inlineKeyboard, renderReply } from './render.ts';

/** How long a long button action stays resolvable (a button older than this answers "expired"). */
export const CALLBACK_STASH_TTL_SEC = 60 * 24 * 3600;
/** How long the progress of a reply split into several messages is remembered between retries. */
const PROGRESS_TTL_SEC = 24 * 3600;

export interface TelegramSenderOptions {
  token: string;
  apiRoot: string;
  redis: Redis;
  /** The queue prefix: Redis keys of this channel live under it. */
  prefix: string;
  log: Logger;
  limits?: Partial<RateLimits>;
  /** A ready client (tests); otherwise one is made from token and apiRoot. */
  telegram?: Telegram;
}

/**
 * Turns a Bot API failure into what the outbox worker understands: a 429 waits `retry_after`,
 * a 400 naming `migrate_to_chat_id` (the group became a supergroup) moves the chat, a 403
 * (blocked, kicked) and other 400s (chat not found, bad request) never work, the rest retry.
 */
export function toSendError(err: unknown, what: string): SendError {
  if (err instanceof SendError) return err;
  const f = apiFailure(err);
  if (!f) return new SendError(`telegram ${what} failed: ${(err as Error)?.message ?? String(err)}`);
  const message = `telegram ${what}: ${f.code} ${f.description}`;
  if (f.code === 429)
    return new SendError(message, { retryAfterMs: Math.max(1, f.retryAfterSec ?? 1) * 1000 });
  if (f.code === 403) return new SendError(message, { permanent: true });
  if (f.code === 400 && f.migrateToChatId)
    return new SendError(`${message} (the group is now ${f.migrateToChatId})`, {
      movedTo: String(f.migrateToChatId),
    });
  if (f.code === 400) return new SendError(message, { permanent: true });
  return new SendError(message);
}

const notModified = (description: string) => /message is not modified/i.test(description);

/**
 * The Telegram sender for the outbox worker: plain-text messages with signed inline buttons,
 * case cards edited in place, long texts split (resuming after the part already sent), and
 * Telegram's rate limits kept through Redis: when a limit says wait, it throws a SendError
 * with `retryAfterMs` instead of sleeping, and the outbox worker delays the job.
 */
export function createTelegramSender(opts: TelegramSenderOptions): ChannelSender {
  const telegram = opts.telegram ?? createTelegramApi(opts.token, opts.apiRoot);
  const keyBase = telegramKeyBase(opts.prefix, opts.token);
  const limiter = createRateLimiter({ redis: opts.redis, keyBase, limits: opts.limits });
  const key = callbackKey(opts.token);
  const log = opts.log;

  async function slot(chatId: string): Promise<void> {
    const wait = await limiter.acquire(chatId);
    if (wait > 0) throw new SendError(`telegram rate limit: wait ${wait} ms`, { retryAfterMs: wait });
  }

  /** One Bot API call with a timeout; a 429 also holds the chat for every process. Throws the API's error. */
  async function api<T>(chatId: string, fn: (signal: ApiSignal) => Promise<T>): Promise<T> {
    try {
      return await fn(apiSignal(API_TIMEOUT_MS));
    } catch (err) {
      const f = apiFailure(err);
      if (f?.code === 429)
        await limiter.hold(chatId, Math.max(1, f.retryAfterSec ?? 1) * 1000).catch(() => {});
      throw err;
    }
  }

  /** Signs the buttons; actions too long for a button are stored first so the press can find them. */
  async function keyboard(chatId: string, rows: ReturnType<typeof renderReply>['rows']) {
    if (rows.length === 0) return undefined;
    const stash: [string, string][] = [];
    const markup = inlineKeyboard(rows, (action) => {
      const encoded = encodeCallback(key, chatId, action);
      if (encoded.stash) stash.push([`${keyBase}:cb:${encoded.stash.ref}`, encoded.stash.action]);
      return encoded.data;
    });
    for (const [k, action] of stash) await opts.redis.set(k, action, 'EX', CALLBACK_STASH_TTL_SEC);
    return markup;
  }

  /** Edits a card in place; false when the old message is gone or too old to edit. */
  async function editCard(chatId: string, messageId: number, text: string, markup?: InlineKeyboard) {
    await slot(chatId);
    try {
      await api(chatId, (signal) =>
        telegram.callApi(
          'editMessageText',
          {
            chat_id: chatId,
            message_id: messageId,
            text,
            // An empty keyboard removes the old buttons when the case has no next step.
            reply_markup: markup ?? { inline_keyboard: [] },
            link_preview_options: { is_disabled: true },
          },
          { signal },
        ),
      );
      return true;
    } catch (err) {
      const f = apiFailure(err);
      if (f && notModified(f.description)) return true;
      // "message to edit not found", "message can't be edited" and other bad requests: post it anew.
      if (f?.code === 400) {
        log.debug({ code: f.code, description: f.description }, 'telegram: card not editable; sending anew');
        return false;
      }
      throw toSendError(err, 'editMessageText');
    }
  }

  return {
    async send(d: OutboundDelivery) {
      const { chatId, reply } = d;
      const rendered = renderReply(reply);
      const markup = await keyboard(chatId, rendered.rows);
      const previous = d.previousExternalId;
      if (reply.card && previous && /^\d+$/.test(previous)) {
        if (await editCard(chatId, Number(previous), rendered.parts[0]!, markup))
          return { externalId: previous };
      }
      const last = rendered.parts.length - 1;
      const progressKey = `${keyBase}:out:${d.outboxId}`;
      // A reply split in several messages resumes after the parts already sent.
      const progress = last > 0 ? await opts.redis.get(progressKey) : null;
      let [done, lastId] = progress ? (progress.split(':') as [string, string]) : ['0', ''];
      for (let i = Number(done); i <= last; i++) {
        await slot(chatId);
        const sent = await api(chatId, (signal) =>
          telegram.callApi(
            'sendMessage',
            {
              chat_id: chatId,
              text: rendered.parts[i]!,
              link_preview_options: { is_disabled: true },
              ...(i === last && markup ? { reply_markup: markup } : {}),
            },
            { signal },
          ),
        ).catch((err) => {
          throw toSendError(err, 'sendMessage');
        });
        lastId = String(sent.message_id);
        done = String(i + 1);
        if (i < last) await opts.redis.set(progressKey, `${done}:${lastId}`, 'EX', PROGRESS_TTL_SEC);
      }
      if (last > 0) await opts.redis.del(progressKey);
      return { externalId: lastId };
    },
  };
}
