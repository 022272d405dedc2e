import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Telegram } from 'telegraf';
import { describeError } from '../../log.ts';
import type { Runtime } from '../../runtime.ts';
import type { ChannelSender, Senders } from '../../workers/senders.ts';
import type { InboundPipeline } from '../pipeline.ts';
import { apiSignal, createTelegramApi } from './api.ts';
import { callbackKey } from './callback-data.ts';
import { createUpdateHandler } from './inbound.ts';
import { telegramKeyBase } from './keys.ts';
import { createPhotoDownloader } from './media.ts';
import { type Polling, type PollingOptions, startPolling } from './polling.ts';
import type { RateLimits } from './rate-limit.ts';
import { createTelegramSender } from './sender.ts';
import { ALLOWED_UPDATES, largestPhoto } from './updates.ts';
import { registerTelegramWebhook, WEBHOOK_PATH } from './webhook.ts';

export { CALLBACK_DATA_MAX_BYTES, callbackKey, encodeCallback, INVALID_ACTION } from './callback-data.ts';
export { telegramMediaDir } from './media.ts';
export { DEFAULT_RATE_LIMITS, type RateLimits } from './rate-limit.ts';
export { createTelegramSender, type TelegramSenderOptions, toSendError } from './sender.ts';
export { type TgUpdate, updateToInbound } from './updates.ts';
export { WEBHOOK_PATH } from './webhook.ts';

/** Start-up calls (getMe, setMyCommands, setWebhook, deleteWebhook) give up after this long. */
const STARTUP_CALL_TIMEOUT_MS = 10_000;

type Command = { command: string; description: string };
const PRIVATE_COMMANDS: Record<'zh' | 'en', Command[]> = {
  zh: [
    { command: 'start', description: '开始 / 主菜单' },
    { command: 'menu', description: '主菜单' },
    { command: 'help', description: '使用帮助' },
    { command: 'cancel', description: '取消当前办理' },
  ],
  en: [
    { command: 'start', description: 'Start / main menu' },
    { command: 'menu', description: 'Main menu' },
    { command: 'help', description: 'Help' },
    { command: 'cancel', description: 'Cancel what you are doing' },
  ],
};
const GROUP_COMMANDS: Record<'zh' | 'en', Command[]> = {
  zh: [
    { command: 'help', description: '班组命令' },
    { command: 'bind', description: '绑定本群到班组：/bind 绑定码' },
    { command: 'cancel', description: '取消当前登记' },
  ],
  en: [
    { command: 'help', description: 'Staff commands' },
    { command: 'bind', description: 'Bind this group to a team: /bind <code>' },
    { command: 'cancel', description: 'Cancel what you are doing' },
  ],
};

export interface StartTelegramOptions {
  rt: Pick<Runtime, 'env' | 'log' | 'redis' | 'deps'>;
  pipeline: Pick<InboundPipeline, 'receive'>;
  /** The bot's HTTP server; in webhook mode the route is added to it, so call this before `listen`. */
  app: FastifyInstance;
  /** Tuning of the polling loop (tests use short pauses). */
  polling?: Pick<PollingOptions, 'timeoutSec' | 'idleDelayMs' | 'backoffMs'>;
}

export interface RunningTelegram {
  mode: 'off' | 'polling' | 'webhook';
  /** Resolves when the start-up calls are done (each failure logged, never thrown). */
  ready: Promise<void>;
  /** Resolves when no photo copy is queued or downloading (tests). */
  downloadsIdle(): Promise<void>;
  /** Stops polling, then lets photo downloads in flight finish for a few seconds. */
  stop(): Promise<void>;
}

/**
 * The Telegram channel's inbound side, configured by the environment (TELEGRAM_BOT_TOKEN,
 * TELEGRAM_WEBHOOK_URL, TELEGRAM_WEBHOOK_SECRET, TELEGRAM_API_ROOT). Without a token it does
 * nothing. With a webhook URL it serves `POST /telegram/webhook` on `app` and sets the webhook;
 * otherwise it removes any webhook and long-polls. The start-up Bot API calls run in the
 * background, so an unreachable or limited Bot API never holds up or stops the bot.
 */
export async function startTelegram(opts: StartTelegramOptions): Promise<RunningTelegram> {
  const { rt } = opts;
  const env = rt.env;
  const log = rt.log.child({ part: 'telegram' });
  const token = env.TELEGRAM_BOT_TOKEN;
  if (!token) {
    log.debug('TELEGRAM_BOT_TOKEN unset: no Telegram channel');
    return { mode: 'off', ready: Promise.resolve(), downloadsIdle: async () => {}, stop: async () => {} };
  }
  const telegram: Telegram = createTelegramApi(token, env.TELEGRAM_API_ROOT);
  let botUsername: string | undefined;
  // Copies of customers' photos, when the policy asks for them (read per update). They start only
  // after the update is stored and never hold up its answer; see media.ts for names and limits.
  const photos = createPhotoDownloader({
    telegram,
    token,
    apiRoot: env.TELEGRAM_API_ROOT,
    dataDir: resolve(env.DATA_DIR),
    log,
  });
  const handle = createUpdateHandler({
    pipeline: opts.pipeline,
    telegram,
    redis: rt.redis,
    keyBase: telegramKeyBase(env.QUEUE_PREFIX, token),
    callbackKey: callbackKey(token),
    botUsername: () => botUsername,
    expiredText: (lang) => rt.deps.t(lang, 'dialogue.staleButton'),
    log,
    afterStore: (update) => {
      if (!rt.deps.policy.telegram.downloadPhotos || !update.message) return;
      const photo = largestPhoto(update.message);
      if (photo)
        photos.enqueue(
          { fileId: photo.file_id, fileUniqueId: photo.file_unique_id, fileSize: photo.file_size },
          update.update_id,
        );
    },
  });

  const webhookUrl = env.TELEGRAM_WEBHOOK_URL;
  const mode = webhookUrl ? 'webhook' : 'polling';
  if (webhookUrl) {
    const secret = env.TELEGRAM_WEBHOOK_SECRET;
    if (!secret) throw new Error('TELEGRAM_WEBHOOK_SECRET is required when TELEGRAM_WEBHOOK_URL is set');
    registerTelegramWebhook(opts.app, { secret, handle });
    if (!new URL(webhookUrl).pathname.endsWith(WEBHOOK_PATH))
      log.warn(
        `TELEGRAM_WEBHOOK_URL does not end with ${WEBHOOK_PATH}: make sure the proxy forwards it there`,
      );
  }

  const aborter = new AbortController();
  const signal = () => apiSignal(STARTUP_CALL_TIMEOUT_MS, aborter.signal);
  let polling: Polling | null = null;
  let stopped = false;
  // A start-up call is logged when it fails; once the bot is stopping, the rest are skipped quietly.
  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    if (stopped) return undefined;
    try {
      return await fn();
    } catch (err) {
      if (!stopped) log.warn({ err: describeError(err) }, `telegram ${what} failed; carrying on without it`);
      return undefined;
    }
  };

  const ready = (async () => {
    const me = await call('getMe', () => telegram.callApi('getMe', {}, { signal: signal() }));
    botUsername = me?.username;
    if (webhookUrl) {
      await call('setWebhook', () =>
        telegram.callApi(
          'setWebhook',
          {
            url: webhookUrl,
            secret_token: env.TELEGRAM_WEBHOOK_SECRET,
            allowed_updates: [...ALLOWED_UPDATES],
          },
          { signal: signal() },
        ),
      );
    } else {
      // Polling and a webhook exclude each other; pending updates are kept.
      await call('deleteWebhook', () =>
        telegram.callApi('deleteWebhook', { drop_pending_updates: false }, { signal: signal() }),
      );
      if (!stopped) polling = startPolling({ telegram, handle, log, ...opts.polling });
    }
    for (const lang of ['zh', 'en'] as const) {
      const language = lang === 'en' ? { language_code: 'en' } : {};
      await call(`setMyCommands (${lang})`, () =>
        telegram.callApi(
          'setMyCommands',
          { commands: PRIVATE_COMMANDS[lang], ...language },
          { signal: signal() },
        ),
      );
      await call(`setMyCommands (${lang}, groups)`, () =>
        telegram.callApi(
          'setMyCommands',
          { commands: GROUP_COMMANDS[lang], scope: { type: 'all_group_chats' }, ...language },
          { signal: signal() },
        ),
      );
    }
    if (!stopped) log.info({ mode, bot: botUsername }, 'telegram channel ready');
  })();

  return {
    mode,
    ready,
    downloadsIdle: () => photos.idle(),
    async stop() {
      stopped = true;
      aborter.abort();
      await ready;
      await (polling as Polling | null)?.stop();
      await photos.stop();
    },
  };
}

/**
 * The Telegram sender for the outbox workers, when a token is configured:
 * `startWorkers(rt, { web: webSender, ...telegramSenders(rt) })`.
 */
export function telegramSenders(
  rt: Pick<Runtime, 'env' | 'redis' | 'log'>,
  opts: { limits?: Partial<RateLimits> } = {},
): Senders {
  const token = rt.env.TELEGRAM_BOT_TOKEN;
  if (!token) return {};
  const sender: ChannelSender = createTelegramSender({
    token,
    apiRoot: rt.env.TELEGRAM_API_ROOT,
    redis: rt.redis,
    prefix: rt.env.QUEUE_PREFIX,
    log: rt.log.child({ part: 'telegram' }),
    limits: opts.limits,
  });
  return { telegram: sender };
}
