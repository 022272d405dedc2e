// For processes that do not run the wechaty bot (`npm run workers`): no runtime import of wechaty.
import type { Env } from '../../../env.ts';
import { type ChannelSender, SendError } from '../../../workers/senders.ts';
import { OFFLINE_RETRY_MS } from './sender.ts';

/** Whether this environment runs a wechaty channel. */
export function wechatyConfigured(
  env: Pick<Env, 'WECHATY_PUPPET' | 'WECHATY_PUPPET_SERVICE_TOKEN'>,
): boolean {
  return Boolean(env.WECHATY_PUPPET || env.WECHATY_PUPPET_SERVICE_TOKEN);
}

/**
 * The 'wechaty' sender of a process that does not run the bot: only the bot process holds the
 * logged-in account, so rows of channel 'wechaty' stay pending (nothing is counted against them)
 * and the bot process's delivery loop sends them (see `startWechatyDelivery`).
 */
export const deferredWechatySender: ChannelSender = {
  async send() {
    throw new SendError('wechaty messages are sent by the bot process', { retryAfterMs: OFFLINE_RETRY_MS });
  },
};
