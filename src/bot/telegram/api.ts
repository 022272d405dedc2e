import { Telegram } from 'telegraf';

/** Requests to the Bot API give up after this long (telegraf's own default is minutes). */
export const API_TIMEOUT_MS = 30_000;

/** A Bot API client (telegraf's `Telegram`) on the given root: api.telegram.org, a local Bot API server or an emulator. */
export function createTelegramApi(token: string, apiRoot: string): Telegram {
  return new Telegram(token, { apiRoot: apiRoot.replace(/\/+$/, '') });
}

/** What a failed Bot API call said, when it was an answer from Telegram (not a network error). */
export interface ApiFailure {
  code: number;
  description: string;
  retryAfterSec?: number;
  migrateToChatId?: number;
}

export function apiFailure(err: unknown): ApiFailure | null {
  const response = (err as { response?: unknown } | null)?.response as
    | {
        error_code?: unknown;
        description?: unknown;
        parameters?: { retry_after?: number; migrate_to_chat_id?: number };
      }
    | undefined;
  if (!response || typeof response.error_code !== 'number') return null;
  return {
    code: response.error_code,
    description: String(response.description ?? ''),
    retryAfterSec: response.parameters?.retry_after,
    migrateToChatId: response.parameters?.migrate_to_chat_id,
  };
}

/** telegraf types `signal` with the `abort-controller` polyfill; Node's own AbortSignal works at run time. */
export type ApiSignal = NonNullable<NonNullable<Parameters<Telegram['callApi']>[2]>['signal']>;

/** A signal for one Bot API call: aborted after `ms`, or with any of `also`. */
export function apiSignal(ms: number, ...also: AbortSignal[]): ApiSignal {
  const timeout = AbortSignal.timeout(ms);
  return (also.length > 0 ? AbortSignal.any([timeout, ...also]) : timeout) as unknown as ApiSignal;
}
