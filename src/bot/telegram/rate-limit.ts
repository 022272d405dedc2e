import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface RateWindow {
  max: number;
  windowMs: number;
}

export interface RateLimits {
  /** Any one chat (Telegram: about 1 message a second). */
  perChat: RateWindow;
  /** A group chat (Telegram: 20 messages a minute). */
  perGroup: RateWindow;
  /** The whole bot (Telegram: about 30 messages a second). */
  global: RateWindow;
  /**
   * The whole bot over a short window, so that the second's messages go out spread over it, not
   * in one burst: a send reaches Telegram a little after its slot is taken, and a burst delayed
   * into the next second would add to that second's (Telegram counts on its own clock).
   */
  globalBurst: RateWindow;
}

/**
 * Telegram's published limits with about 10 % to spare (overall about 17 %: a send reaches
 * Telegram a little after its slot is taken, by a varying delay, and 10 % let one of 2,000
 * messages through as the 31st of a second on a busy machine). A group's 18 are counted over
 * 62 s, not 60: with a minute's window, a send delayed on its way put 19 into one minute as
 * Telegram counts it (bench:outbound).
 */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  perChat: { max: 1, windowMs: 1100 },
  perGroup: { max: 18, windowMs: 62_000 },
  global: { max: 25, windowMs: 1000 },
  globalBurst: { max: 5, windowMs: 200 },
};

/**
 * Sliding windows in sorted sets, checked and taken atomically, on Redis's clock so that every
 * process agrees. KEYS[1] is a hold set after a 429; KEYS[2..] are windows with ARGV pairs
 * (windowMs, max) after the member in ARGV[1]. Returns 0 when a slot was taken, else the wait
 * in ms (nothing is taken then).
 */
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
local hold = redis.call('PTTL', KEYS[1])
if hold > 0 then wait = hold end
for i = 2, #KEYS do
  local windowMs = tonumber(ARGV[(i - 1) * 2])
  local max = tonumber(ARGV[(i - 1) * 2 + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - windowMs)
  local count = redis.call('ZCARD', KEYS[i])
  if count >= max then
    local oldest = redis.call('ZRANGE', KEYS[i], count - max, count - max, 'WITHSCORES')
    local w = tonumber(oldest[2]) + windowMs - now
    if w < 1 then w = 1 end
    if w > wait then wait = w end
  end
end
if wait > 0 then return wait end
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[(i - 1) * 2]))
end
return 0
`;

/** Group and supergroup chat ids are negative; users' private chats are positive. */
export const isGroupChatId = (chatId: string) => chatId.startsWith('-');

export interface RateLimiter {
  /** Takes a slot to send to the chat: 0 = go now; otherwise how many ms to wait (nothing taken). */
  acquire(chatId: string): Promise<number>;
  /** After a 429: nothing goes to this chat for `ms`. */
  hold(chatId: string, ms: number): Promise<void>;
}

/** Outbound limits shared by every process through Redis (keys under `keyBase`). */
export function createRateLimiter(opts: {
  redis: Redis;
  keyBase: string;
  limits?: Partial<RateLimits>;
}): RateLimiter {
  const limits = { ...DEFAULT_RATE_LIMITS, ...opts.limits };
  const base = `${opts.keyBase}:rl`;
  const holdKey = (chatId: string) => `${base}:hold:${chatId}`;
  return {
    async acquire(chatId) {
      const windows: [string, RateWindow][] = [
        [`${base}:chat:${chatId}`, limits.perChat],
        ...(isGroupChatId(chatId)
          ? [[`${base}:group:${chatId}`, limits.perGroup] as [string, RateWindow]]
          : []),
        [`${base}:all`, limits.global],
        [`${base}:burst`, limits.globalBurst],
      ];
      const member = `${Date.now()}-${randomBytes(6).toString('hex')}`;
      const result = await opts.redis.eval(
        ACQUIRE,
        windows.length + 1,
        holdKey(chatId),
        ...windows.map(([key]) => key),
        member,
        ...windows.flatMap(([, w]) => [String(w.windowMs), String(w.max)]),
      );
      return Number(result);
    },
    async hold(chatId, ms) {
      if (ms > 0) await opts.redis.set(holdKey(chatId), '1', 'PX', Math.ceil(ms));
    },
  };
}
