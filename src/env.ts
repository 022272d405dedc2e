import { z } from 'zod';

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
const bool = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));
const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    `expected a URL starting with ${protocols.join(' or ')}`,
  );

/** Every environment variable the bot reads. Nothing else reads process.env. */
export const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    /** Unset: an embedded PostgreSQL under DATA_DIR/pg. */
    DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
    /** Max connections of this process's pool. */
    DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
    DATABASE_PREPARE: bool.default(true),
    /** Most inbound messages stored and handled by one transaction (group commit under load). */
    INBOUND_BATCH_MAX: z.coerce.number().int().min(1).max(1000).default(200),
    /**
     * Inbound transactions at once per process (each holds a pool connection). Two keep the
     * database and this process busy at the same time; more only interleave on the event loop and
     * make each batch take longer (measured: the same throughput, higher latency).
     */
    INBOUND_BATCH_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(2),
    /**
     * How long a transaction begun ahead of the next inbound batch waits for its messages before
     * it commits empty, in ms (0: none is begun ahead). It holds one more pool connection.
     */
    INBOUND_BEGIN_AHEAD_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
    REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
    /** Start a redis-server for the bot when nothing answers at a loopback REDIS_URL. */
    REDIS_AUTOSTART: bool.default(true),
    /** Prefix of every BullMQ key, so several bots (or test runs) can share one Redis. */
    QUEUE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,40}$/)
      .default('gsb'),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    HOST: z.string().min(1).default('0.0.0.0'),
    LOG_LEVEL: logLevel.default('info'),
    /** Company policy (YAML or JSON). Unset: the demo company's policy. */
    POLICY_FILE: z.string().min(1).optional(),
    DATA_DIR: z.string().min(1).default('./data'),
    EMBEDDED_PG_PORT: z.coerce.number().int().min(1024).max(65535).default(54329),
    /** Run the queue workers inside the bot process (default). Set to false when `npm run workers` runs them. */
    RUN_WORKERS: bool.default(true),
    /** Serve the local web chat page and its JSON API. */
    WEB_CHAT: bool.default(true),
    /** Bearer token required by the web chat JSON API when set (production use as a channel). */
    WEB_API_TOKEN: z.string().min(16).optional(),
    /** Messages per minute one address may POST to the web chat API (0 = no limit, e.g. behind your own gateway). */
    WEB_API_SEND_LIMIT: z.coerce.number().int().min(0).max(1_000_000).default(120),
    /** Telegram: the bot token from BotFather; unset = no Telegram channel. */
    TELEGRAM_BOT_TOKEN: z
      .string()
      .regex(/^\d+:[A-Za-z0-9_-]{20,}$/, 'expected a BotFather token like 123456:ABC…')
      .optional(),
    /** Telegram webhook URL (https://…/telegram/webhook); unset = long polling. */
    TELEGRAM_WEBHOOK_URL: url(['https:', 'http:']).optional(),
    /** Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token (1–256 of A–Z a–z 0–9 _ -). */
    TELEGRAM_WEBHOOK_SECRET: z
      .string()
      .regex(/^[A-Za-z0-9_-]{16,256}$/, 'expected 16–256 of A–Z a–z 0–9 _ -')
      .optional(),
    /** Bot API root for a self-hosted Bot API server (or a test emulator). */
    TELEGRAM_API_ROOT: url(['https:', 'http:']).default('https://api.telegram.org'),
    /** WeChat official account (公众号): unset = no official-account channel. */
    WECHAT_OA_APP_ID: z
      .string()
      .regex(/^wx[0-9a-f]{16}$/i, 'expected an AppID like wx1234567890abcdef')
      .optional(),
    WECHAT_OA_APP_SECRET: z.string().min(16).optional(),
    /** The Token set in the official account's server configuration (3–32 letters and digits). */
    WECHAT_OA_TOKEN: z
      .string()
      .regex(/^[A-Za-z0-9]{3,32}$/, 'expected 3–32 letters and digits')
      .optional(),
    /** EncodingAESKey (43 characters) for the safe and compatible modes. */
    WECHAT_OA_AES_KEY: z
      .string()
      .regex(/^[A-Za-z0-9]{43}$/, 'expected the 43-character EncodingAESKey')
      .optional(),
    /** Message encryption mode configured on the official account: plain, compatible or safe. */
    WECHAT_OA_MODE: z.enum(['plain', 'compatible', 'safe']).optional(),
    /** WeChat API base; tests point it at a local fake. */
    WECHAT_API_BASE: url(['https:', 'http:']).default('https://api.weixin.qq.com'),
    /** wechaty (staff groups, contacts): the puppet package; unset = no wechaty channel. */
    WECHATY_PUPPET: z.string().min(1).optional(),
    WECHATY_PUPPET_SERVICE_TOKEN: z.string().min(1).optional(),
  })
  .superRefine((env, ctx) => {
    const oa = {
      WECHAT_OA_APP_ID: env.WECHAT_OA_APP_ID,
      WECHAT_OA_APP_SECRET: env.WECHAT_OA_APP_SECRET,
      WECHAT_OA_TOKEN: env.WECHAT_OA_TOKEN,
    };
    const missing = Object.entries(oa).find(([, v]) => !v);
    if (missing && Object.values(oa).some(Boolean))
      ctx.addIssue({
        code: 'custom',
        path: [missing[0]],
        message: 'WECHAT_OA_APP_ID, WECHAT_OA_APP_SECRET and WECHAT_OA_TOKEN go together',
      });
    if ((env.WECHAT_OA_MODE === 'safe' || env.WECHAT_OA_MODE === 'compatible') && !env.WECHAT_OA_AES_KEY)
      ctx.addIssue({
        code: 'custom',
        path: ['WECHAT_OA_AES_KEY'],
        message: `required in ${env.WECHAT_OA_MODE} mode`,
      });
    if (env.TELEGRAM_WEBHOOK_URL && !env.TELEGRAM_WEBHOOK_SECRET)
      ctx.addIssue({
        code: 'custom',
        path: ['TELEGRAM_WEBHOOK_SECRET'],
        message: 'required when TELEGRAM_WEBHOOK_URL is set',
      });
  });

export type Env = z.infer<typeof envSchema>;

/** Raised when the environment is invalid; its message is one line naming the variable. */
export class EnvError extends Error {}

/** Parses the environment once; a bad value throws an EnvError naming the variable. */
export function parseEnv(source: Record<string, string | undefined> = process.env): Env {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(cleaned);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const name = String(issue.path[0] ?? 'environment');
  throw new EnvError(`Invalid environment variable ${name}: ${issue.message}`);
}

/** For the entry points: the parsed environment, or one line on stderr and exit code 1. */
export function parseEnvOrExit(): Env {
  try {
    return parseEnv();
  } catch (err) {
    console.error(err instanceof EnvError ? err.message : String(err));
    process.exit(1);
  }
}
