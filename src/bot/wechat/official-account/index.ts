import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../../../runtime.ts';
import type { Senders } from '../../../workers/senders.ts';
import type { InboundPipeline } from '../../pipeline.ts';
import { oaConfig } from './config.ts';
import { createWeChatOaSender } from './sender.ts';
import { OA_PATH, registerOfficialAccountRoutes } from './webhook.ts';

export {
  createWeChatApi,
  TOKEN_ERRORS,
  TOKEN_MARGIN_SEC,
  tokenKeys,
  type WeChatApi,
  WeChatApiError,
} from './api.ts';
export { type OaConfig, type OaMode, oaConfig } from './config.ts';
export {
  decodeAesKey,
  signatureMatches,
  WeChatCipher,
  WeChatCryptoError,
  wechatSignature,
} from './crypto.ts';
export { type Converted, SUBSCRIBE_TEXT, toInbound } from './inbound.ts';
export { installMenu, type MenuButton, OA_MENU } from './menu.ts';
export {
  createWeChatOaSender,
  QUOTA_RETRY_MS,
  templateData,
  toSendError,
  type WeChatOaSenderOptions,
} from './sender.ts';
export { OA_PATH, PASSIVE_MAX_BYTES, PASSIVE_TIMEOUT_MS } from './webhook.ts';
export { buildXml, MAX_XML_BYTES, parseWeChatXml, type WeChatFields, XmlRejected } from './xml.ts';

export interface RegisterOfficialAccountOptions {
  rt: Pick<Runtime, 'env' | 'log' | 'redis' | 'database' | 'deps' | 'kicker'>;
  pipeline: Pick<InboundPipeline, 'receiveAndProcess'>;
  /** The bot's HTTP server; call before `listen`. */
  app: FastifyInstance;
  /** How long a push is processed before the answer is `success` (default 4 s; tests shorten it). */
  passiveTimeoutMs?: number;
}

/**
 * The WeChat official account (公众号) channel's inbound side: `GET|POST /wechat/official-account`
 * on the bot's server, configured by WECHAT_OA_APP_ID, WECHAT_OA_APP_SECRET, WECHAT_OA_TOKEN,
 * WECHAT_OA_AES_KEY and WECHAT_OA_MODE. Does nothing when WECHAT_OA_APP_ID is unset.
 */
export async function registerOfficialAccount(opts: RegisterOfficialAccountOptions): Promise<void> {
  const config = oaConfig(opts.rt.env);
  if (!config) return;
  await registerOfficialAccountRoutes(opts.app, { ...opts, config });
  opts.rt.log.info({ path: OA_PATH, mode: config.mode }, 'wechat official account channel ready');
}

/**
 * The official account's sender for the outbox workers, when it is configured:
 * `startWorkers(rt, { web: webSender, ...officialAccountSenders(rt) })`.
 */
export function officialAccountSenders(
  rt: Pick<Runtime, 'env' | 'log' | 'redis' | 'database' | 'deps'>,
): Senders {
  if (!oaConfig(rt.env)) return {};
  return {
    'wechat-oa': createWeChatOaSender({
      env: rt.env,
      policy: rt.deps.policy,
      redis: rt.redis,
      db: rt.database.db,
      clock: rt.deps.clock,
      log: rt.log,
    }),
  };
}
