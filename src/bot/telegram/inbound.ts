import type { Redis } from 'ioredis';
import type { Telegram } from 'telegraf';
import type { Lang } from '../../flows/engine/message.ts';
import { describeError, type Logger } from '../../log.ts';
import type { InboundPipeline } from '../pipeline.ts';
import { API_TIMEOUT_MS, apiSignal } from './api.ts';
import { INVALID_ACTION } from './callback-data.ts';
import { type TgUpdate, updateToInbound } from './updates.ts';

export interface UpdateHandlerOptions {
  pipeline: Pick<InboundPipeline, 'receive'>;
  telegram: Telegram;
  redis: Redis;
  /** `telegramKeyBase(prefix, token)`: where long button actions are stored by the sender. */
  keyBase: string;
  callbackKey: Buffer;
  /** The bot's username once known (getMe), to ignore commands meant for other bots. */
  botUsername: () => string | undefined;
  /** The short notice shown on a button that is forged or expired. */
  expiredText: (lang: Lang) => string;
  log: Logger;
  /**
   * Called once an update's message is newly stored (not for a duplicate), for work that must
   * not hold up storing or the answer to Telegram (photo copies). Must return at once; a throw
   * is logged and ignored.
   */
  afterStore?: (update: TgUpdate) => void;
}

/**
 * One update in: converted, its button checked, stored (deduplicated by the update id) and
 * handed to the flows in the background by `pipeline.receive`. Resolves once stored; throws
 * when it could not be stored, so the caller does not confirm the update to Telegram.
 * Every button press is answered (errors ignored), with a notice when the button was refused.
 */
export function createUpdateHandler(o: UpdateHandlerOptions): (update: TgUpdate) => Promise<void> {
  const answer = (id: string, text?: string) => {
    o.telegram
      .callApi(
        'answerCallbackQuery',
        { callback_query_id: id, ...(text ? { text } : {}) },
        { signal: apiSignal(API_TIMEOUT_MS) },
      )
      .catch(() => {});
  };
  return async (update) => {
    const converted = updateToInbound(update, { callbackKey: o.callbackKey, botUsername: o.botUsername() });
    const queryId = update.callback_query?.id;
    if (!converted) {
      if (queryId) answer(queryId);
      return;
    }
    const { msg, callback } = converted;
    if (callback?.kind === 'ref') {
      const action = await o.redis.get(`${o.keyBase}:cb:${callback.ref}`);
      msg.action = action ?? INVALID_ACTION;
    }
    const refused = callback !== undefined && msg.action === INVALID_ACTION;
    if (refused)
      o.log.info(
        { reason: callback.kind === 'invalid' ? callback.reason : 'expired-ref', chatKind: msg.chatKind },
        'telegram: button payload refused',
      );
    const stored = await o.pipeline.receive(msg);
    if (o.afterStore && !stored.duplicate) {
      try {
        o.afterStore(update);
      } catch (err) {
        o.log.warn(
          { err: describeError(err), updateId: update.update_id },
          'telegram after-store step failed',
        );
      }
    }
    if (queryId) answer(queryId, refused ? o.expiredText(msg.sender.lang ?? 'zh') : undefined);
  };
}
