// `tsx src/bot/wechat/official-account/install-menu.ts`: installs the official account's custom
// menu (报修/报警, 我的工单, 人工客服). The access token is taken from the bot's Redis when it is
// reachable, so installing the menu does not invalidate the running bot's token.
import { Redis } from 'ioredis';
import { parseEnvOrExit } from '../../../env.ts';
import { createLogger } from '../../../log.ts';
import { createWeChatApi } from './api.ts';
import { oaConfig } from './config.ts';
import { installMenu } from './menu.ts';

const env = parseEnvOrExit();
// Warnings only, and on stderr: stdout carries the one line of result.
const log = createLogger('warn', process.stderr);

async function connect(url: string): Promise<Redis | undefined> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
    return redis;
  } catch {
    redis.disconnect();
    return undefined;
  }
}

let redis: Redis | undefined;
try {
  const config = oaConfig(env);
  if (!config) throw new Error('WECHAT_OA_APP_ID is not set');
  redis = await connect(env.REDIS_URL);
  const api = createWeChatApi({
    appId: config.appId,
    appSecret: config.appSecret,
    apiBase: config.apiBase,
    redis,
    prefix: env.QUEUE_PREFIX,
    log,
  });
  const summary = await installMenu(api);
  process.stdout.write(`${summary}${redis ? '' : ' (Redis unreachable: fetched a token of its own)'}\n`);
  process.exitCode = 0;
} catch (err) {
  console.error(`menu not installed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  redis?.disconnect();
}
