import type { Env } from '../../../env.ts';

export type OaMode = 'plain' | 'compatible' | 'safe';

/** The official account's settings, from WECHAT_OA_* and WECHAT_API_BASE. */
export interface OaConfig {
  appId: string;
  appSecret: string;
  token: string;
  aesKey?: string;
  /** plain: XML in the clear; compatible: both (we answer in kind); safe: encrypted only. */
  mode: OaMode;
  apiBase: string;
}

/** The settings when the channel is configured (WECHAT_OA_APP_ID set), else null. */
export function oaConfig(env: Env): OaConfig | null {
  const { WECHAT_OA_APP_ID: appId, WECHAT_OA_APP_SECRET: appSecret, WECHAT_OA_TOKEN: token } = env;
  if (!appId) return null;
  if (!appSecret || !token)
    throw new Error('WECHAT_OA_APP_ID, WECHAT_OA_APP_SECRET and WECHAT_OA_TOKEN go together');
  const aesKey = env.WECHAT_OA_AES_KEY;
  const mode: OaMode = env.WECHAT_OA_MODE ?? (aesKey ? 'safe' : 'plain');
  if (mode !== 'plain' && !aesKey) throw new Error(`WECHAT_OA_AES_KEY is required in ${mode} mode`);
  return { appId, appSecret, token, aesKey, mode, apiBase: env.WECHAT_API_BASE };
}
