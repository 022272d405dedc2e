// `npm run workers`: queue workers and the reconciler without the HTTP server or channels, for
// running them on other machines (set RUN_WORKERS=false on the bot processes then).

import { telegramSenders } from '../bot/telegram/index.ts';
import { officialAccountSenders } from '../bot/wechat/official-account/index.ts';
import { deferredWechatySender, wechatyConfigured } from '../bot/wechat/wechaty/deferred.ts';
import { parseEnvOrExit } from '../env.ts';
import { createLogger } from '../log.ts';
import { startRuntime } from '../runtime.ts';
import { webSender } from './senders.ts';
import { startWorkers } from './start-workers.ts';

const env = parseEnvOrExit();
const log = createLogger(env.LOG_LEVEL);
try {
  const rt = await startRuntime({ env, log });
  const workers = startWorkers(rt, {
    web: webSender,
    ...telegramSenders(rt),
    ...officialAccountSenders(rt),
    // The WeChat account runs in the bot process, which sends these; here they just wait for it.
    ...(wechatyConfigured(env) ? { wechaty: deferredWechatySender } : {}),
  });
  log.info('workers ready');
  const shutdown = async (signal: string) => {
    log.info({ signal }, 'draining workers');
    await workers.stop();
    await rt.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
} catch (err) {
  console.error(`workers failed to start: ${(err as Error).message}`);
  process.exit(1);
}
