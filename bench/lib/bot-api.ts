import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TelegramServer } from 'telegram-test-api/lib/telegramServer.js';
import { startEmulator as startTestEmulator } from '../../test/fixtures/telegram.ts';

/**
 * A Bot API on loopback for the outbound bench: the telegram-test-api emulator, behind a small
 * proxy that plays Telegram's flood control. The emulator itself never answers 429.
 */

/** Telegram's limits as the proxy enforces them (the bot's own limiter keeps about 10 % below). */
export interface TelegramLimits {
  /** Any one chat: a token bucket refilled at this many messages per second… */
  chatPerSec: number;
  /** …holding at most this many (the "short bursts" Telegram tolerates). */
  chatBurst: number;
  /** A group chat (negative id): at most this many in any sliding 60 s. */
  groupPerMin: number;
  /** The whole bot: at most this many in any sliding 1 s. */
  globalPerSec: number;
}

export const TELEGRAM_LIMITS: TelegramLimits = {
  chatPerSec: 1,
  chatBurst: 2,
  groupPerMin: 20,
  globalPerSec: 30,
};

export type LimitName = 'chat' | 'group' | 'global';

/** A sendMessage the proxy let through (and forwarded), stamped when its request had arrived. */
export interface Accepted {
  at: number;
  chatId: string;
  /** The `#n` at the end of the text: the message's place in its chat, to check the order. */
  seq: number | null;
}

/** A sendMessage the proxy answered with 429, and which limit it would have broken first. */
export interface Refused {
  at: number;
  chatId: string;
  limit: LimitName;
  retryAfterSec: number;
}

export interface LimitingProxy {
  apiRoot: string;
  accepted: Accepted[];
  refused: Refused[];
  /** Calls of other methods, forwarded unchecked. */
  otherCalls: Map<string, number>;
  close(): Promise<void>;
}

const WINDOW_GROUP_MS = 60_000;
const WINDOW_GLOBAL_MS = 1000;

/**
 * A node:http proxy on 127.0.0.1 in front of `upstream` (the emulator). Every sendMessage and
 * editMessageText is checked against Telegram's limits at the moment its request arrives (times
 * from `performance.now()`): within them it is recorded and forwarded; beyond them it gets
 * Telegram's answer, `429 Too Many Requests: retry after N` with `parameters.retry_after` (whole
 * seconds, at least 1), and is not forwarded; a refused message does not count against a limit.
 * Everything else is forwarded as it is.
 */
export async function startLimitingProxy(opts: {
  upstream: string;
  limits?: Partial<TelegramLimits>;
}): Promise<LimitingProxy> {
  const limits = { ...TELEGRAM_LIMITS, ...opts.limits };
  const up = new URL(opts.upstream);
  if (up.hostname !== '127.0.0.1' && up.hostname !== 'localhost')
    throw new Error(`the bench proxies to loopback only, not ${up.hostname}`);
  const accepted: Accepted[] = [];
  const refused: Refused[] = [];
  const otherCalls = new Map<string, number>();
  const buckets = new Map<string, { tokens: number; at: number }>();
  const groupSends = new Map<string, number[]>();
  const globalSends: number[] = [];
  let globalHead = 0; // globalSends[globalHead..] are within the last second

  /** ms until the chat may send again (0 = now), by the first limit that says wait. */
  function check(chatId: string, now: number): { limit: LimitName; waitMs: number } | null {
    let worst: { limit: LimitName; waitMs: number } | null = null;
    const consider = (limit: LimitName, waitMs: number) => {
      if (waitMs > 0 && (!worst || waitMs > worst.waitMs)) worst = { limit, waitMs };
    };
    const b = buckets.get(chatId);
    if (b) {
      const tokens = Math.min(limits.chatBurst, b.tokens + ((now - b.at) / 1000) * limits.chatPerSec);
      if (tokens < 1) consider('chat', ((1 - tokens) / limits.chatPerSec) * 1000);
    }
    if (chatId.startsWith('-')) {
      const sends = groupSends.get(chatId) ?? [];
      while (sends.length > 0 && sends[0]! <= now - WINDOW_GROUP_MS) sends.shift();
      if (sends.length >= limits.groupPerMin)
        consider('group', sends[sends.length - limits.groupPerMin]! + WINDOW_GROUP_MS - now);
    }
    while (globalHead < globalSends.length && globalSends[globalHead]! <= now - WINDOW_GLOBAL_MS)
      globalHead++;
    const inWindow = globalSends.length - globalHead;
    if (inWindow >= limits.globalPerSec)
      consider('global', globalSends[globalSends.length - limits.globalPerSec]! + WINDOW_GLOBAL_MS - now);
    return worst;
  }

  function take(chatId: string, now: number): void {
    const b = buckets.get(chatId);
    const tokens = b
      ? Math.min(limits.chatBurst, b.tokens + ((now - b.at) / 1000) * limits.chatPerSec)
      : limits.chatBurst;
    buckets.set(chatId, { tokens: tokens - 1, at: now });
    if (chatId.startsWith('-')) {
      const sends = groupSends.get(chatId) ?? [];
      sends.push(now);
      groupSends.set(chatId, sends);
    }
    globalSends.push(now);
  }

  function forward(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    const out = request(
      {
        host: up.hostname,
        port: up.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: up.host, 'content-length': String(body.length) },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: false, error_code: 502, description: `bench proxy: ${err.message}` }));
    });
    out.end(body);
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const now = performance.now();
      const body = Buffer.concat(chunks);
      const method = (req.url ?? '').split('?')[0]!.split('/').pop() ?? '';
      if (method !== 'sendMessage' && method !== 'editMessageText') {
        otherCalls.set(method, (otherCalls.get(method) ?? 0) + 1);
        forward(req, body, res);
        return;
      }
      let payload: { chat_id?: unknown; text?: unknown } = {};
      try {
        payload = JSON.parse(body.toString('utf8') || '{}') as typeof payload;
      } catch {
        // not JSON (a multipart upload): forwarded unchecked below, as chat ''
      }
      const chatId = String(payload.chat_id ?? '');
      const over = chatId ? check(chatId, now) : null;
      if (over) {
        const retryAfterSec = Math.max(1, Math.ceil(over.waitMs / 1000));
        refused.push({ at: now, chatId, limit: over.limit, retryAfterSec });
        res.writeHead(429, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            ok: false,
            error_code: 429,
            description: `Too Many Requests: retry after ${retryAfterSec}`,
            parameters: { retry_after: retryAfterSec },
          }),
        );
        return;
      }
      if (chatId) take(chatId, now);
      const seq = typeof payload.text === 'string' ? /#(\d+)$/.exec(payload.text)?.[1] : undefined;
      accepted.push({ at: now, chatId, seq: seq === undefined ? null : Number(seq) });
      forward(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    apiRoot: `http://127.0.0.1:${port}`,
    accepted,
    refused,
    otherCalls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The telegram-test-api emulator on a free loopback port, keeping what the bot sent for an hour. */
export function startEmulator(): Promise<TelegramServer> {
  return startTestEmulator({ storeTimeout: 3600 });
}
