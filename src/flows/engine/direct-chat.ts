import type { Channel } from './message.ts';

/**
 * The private chat with a user on a channel. Telegram, WeChat and wechaty address a private
 * chat by the user's own id; the web chat names it `dm-<user>`.
 */
export function directChatId(channel: Channel, userId: string): string {
  return channel === 'web' ? `dm-${userId}` : userId;
}
