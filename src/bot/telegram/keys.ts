/**
 * Where the Telegram channel keeps its small shared state in Redis: under the queue prefix and
 * the bot's numeric id, so two bots (or two test runs) sharing one Redis never mix.
 */
export function telegramKeyBase(prefix: string, token: string): string {
  return `${prefix}:tg:${token.split(':')[0]}`;
}
