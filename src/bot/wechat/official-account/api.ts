import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../../../log.ts';

/** One API call gives up after this long (the outbox worker retries the message). */
export const API_TIMEOUT_MS = 10_000;
/** A token is kept this much shorter than WeChat says it lives, so it is never used at its edge. */
export const TOKEN_MARGIN_SEC = 300;
/** The refresh lock: held at most this long (a crashed holder frees it by itself). */
const LOCK_TTL_MS = API_TIMEOUT_MS + 5_000;
/** How long a process waits for another one's refresh before failing the call. */
const LOCK_WAIT_MS = LOCK_TTL_MS + 5_000;
const POLL_MS = 100;

/** access_token errors: invalid (40001, 40014) or expired (42001); the token is refreshed and the call retried once. */
export const TOKEN_ERRORS = new Set([40001, 40014, 42001]);

/** WeChat answered with a non-zero `errcode`. */
export class WeChatApiError extends Error {
  constructor(
    readonly errcode: number,
    readonly errmsg: string,
    readonly api: string,
  ) {
    super(`wechat ${api}: ${errcode} ${errmsg}${hint(errcode)}`);
  }
}

function hint(errcode: number): string {
  if (errcode === 40164 || errcode === 61004)
    return " (add this server's public IP to the official account's IP whitelist)";
  if (errcode === 40125 || errcode === 40013) return ' (check WECHAT_OA_APP_ID and WECHAT_OA_APP_SECRET)';
  if (errcode === 48001)
    return ' (the official account lacks this API permission: a verified service account is needed)';
  return '';
}

export interface WeChatApiOptions {
  appId: string;
  appSecret: string;
  /** WECHAT_API_BASE, e.g. https://api.weixin.qq.com */
  apiBase: string;
  /** Where the token is shared by every process; without it each call fetches one (scripts only). */
  redis?: Redis;
  /** The queue prefix: the token's keys live under it. */
  prefix: string;
  log: Logger;
}

export interface WeChatApi {
  /** POSTs JSON to an API path with the access token; retries once after a token error. */
  post<T extends object = Record<string, unknown>>(path: string, body: unknown): Promise<T>;
  /** The current access token, refreshed through the shared lock when missing or equal to `stale`. */
  accessToken(stale?: string): Promise<string>;
}

type ApiAnswer = { errcode?: number; errmsg?: string } & Record<string, unknown>;

async function fetchJson(url: string, init: RequestInit, api: string): Promise<ApiAnswer> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(API_TIMEOUT_MS) });
  if (!res.ok) throw new Error(`wechat ${api}: HTTP ${res.status}`);
  const body = (await res.json()) as unknown;
  if (!body || typeof body !== 'object') throw new Error(`wechat ${api}: not a JSON object`);
  return body as ApiAnswer;
}

// Deletes the lock only if it is still ours.
const RELEASE_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The Redis keys of one official account's token. */
export function tokenKeys(prefix: string, appId: string) {
  const token = `${prefix}:wxoa:${appId}:access-token`;
  return { token, lock: `${token}:lock` };
}

/**
 * The official account's API client. The access_token is one for all processes: kept in Redis
 * until shortly before it expires, refreshed by one process at a time under a Redis lock (the
 * others wait and read what it stored), and refreshed early when WeChat says it is invalid —
 * fetching a new token invalidates the old one, so processes must not each fetch their own.
 */
export function createWeChatApi(opts: WeChatApiOptions): WeChatApi {
  const base = opts.apiBase.replace(/\/+$/, '');
  const keys = tokenKeys(opts.prefix, opts.appId);
  const { redis, log } = opts;

  async function fetchToken(): Promise<{ token: string; ttlMs: number }> {
    const url = new URL(`${base}/cgi-bin/token`);
    url.search = new URLSearchParams({
      grant_type: 'client_credential',
      appid: opts.appId,
      secret: opts.appSecret,
    }).toString();
    const body = await fetchJson(url.toString(), { method: 'GET' }, 'token');
    if (body.errcode) throw new WeChatApiError(body.errcode, String(body.errmsg ?? ''), 'token');
    const token = body.access_token;
    if (typeof token !== 'string' || !token) throw new Error('wechat token: no access_token in the answer');
    const expiresIn = Number(body.expires_in) || 7200;
    log.info({ expiresIn }, 'wechat access token refreshed');
    return { token, ttlMs: Math.max(60, expiresIn - TOKEN_MARGIN_SEC) * 1000 };
  }

  async function accessToken(stale?: string): Promise<string> {
    if (!redis) return (await fetchToken()).token;
    const until = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      const current = await redis.get(keys.token);
      if (current && current !== stale) return current;
      const lockId = randomUUID();
      if ((await redis.set(keys.lock, lockId, 'PX', LOCK_TTL_MS, 'NX')) === 'OK') {
        try {
          // Someone may have refreshed between our read and our lock.
          const again = await redis.get(keys.token);
          if (again && again !== stale) return again;
          const fresh = await fetchToken();
          await redis.set(keys.token, fresh.token, 'PX', fresh.ttlMs);
          return fresh.token;
        } finally {
          await redis.eval(RELEASE_LOCK, 1, keys.lock, lockId).catch(() => {});
        }
      }
      if (Date.now() > until)
        throw new Error('wechat token: timed out waiting for another process to refresh it');
      await sleep(POLL_MS);
    }
  }

  async function post<T extends object>(path: string, body: unknown): Promise<T> {
    const api = path.replace(/^\/cgi-bin\//, '');
    let token = await accessToken();
    for (let attempt = 0; ; attempt++) {
      const url = `${base}${path}?access_token=${encodeURIComponent(token)}`;
      const answer = await fetchJson(
        url,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json; charset=utf-8' },
          body: JSON.stringify(body),
        },
        api,
      );
      const errcode = Number(answer.errcode ?? 0);
      if (errcode === 0) return answer as T;
      if (TOKEN_ERRORS.has(errcode) && attempt === 0) {
        log.warn({ errcode, api }, 'wechat says the access token is invalid; refreshing it');
        token = await accessToken(token);
        continue;
      }
      throw new WeChatApiError(errcode, String(answer.errmsg ?? ''), api);
    }
  }

  return { post, accessToken };
}
