// `npm start`: configuration → database → Redis → HTTP server and channels → workers.
import { parseEnvOrExit } from '../env.ts';
import { PolicyError } from '../flows/policy/load.ts';
import { createLogger } from '../log.ts';
import { startRuntime } from '../runtime.ts';
import { webSender } from '../workers/senders.ts';
import { startWorkers } from '../workers/start-workers.ts';
import { InboundPipeline } from './pipeline.ts';
import { buildServer } from './server.ts';
import { startTelegram, telegramSenders } from './telegram/index.ts';
import { officialAccountSenders, registerOfficialAccount } from './wechat/official-account/index.ts';
import { wechatyConfigured } from './wechat/wechaty/deferred.ts';

const env = parseEnvOrExit();
const log = createLogger(env.LOG_LEVEL);
const started = Date.now();

try {
  const rt = await startRuntime({ env, log });
  const pipeline = new InboundPipeline(rt);
  // Returns at once; the WeChat account logs in in the background (the QR-code URL is logged).
  // Only this process can send through it, so it delivers its outbox rows whether or not it runs workers.
  // wechaty is heavy to load: only when configured.
  const wechaty = wechatyConfigured(env)
    ? await (await import('./wechat/wechaty/index.ts')).startWechaty({ rt, pipeline })
    : null;
  const senders = {
    web: webSender,
    ...telegramSenders(rt),
    ...officialAccountSenders(rt),
    ...(wechaty ? { wechaty: wechaty.sender } : {}),
  };
  const workers = env.RUN_WORKERS ? startWorkers(rt, senders) : null;
  const server = await buildServer(rt, pipeline);
  // Channels register their webhooks on the server, so they start before it listens.
  const telegram = await startTelegram({ rt, pipeline, app: server });
  if (env.WECHAT_OA_APP_ID) await registerOfficialAccount({ rt, pipeline, app: server });
  await server.listen({ port: env.PORT, host: env.HOST });
  const port = (server.server.address() as { port: number }).port;
  log.info(
    {
      port,
      workers: Boolean(workers),
      telegram: telegram.mode,
      wechatOfficialAccount: Boolean(env.WECHAT_OA_APP_ID),
      wechaty: Boolean(wechaty),
      startupMs: Date.now() - started,
    },
    `gas-service bot ready: web chat at http://localhost:${port}/ , health at /healthz`,
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: no new requests, finishing work in hand');
    const force = setTimeout(() => {
      log.error('shutdown took over 25 s; exiting');
      process.exit(1);
    }, 25_000);
    force.unref();
    await telegram.stop();
    await wechaty?.stop();
    await server.close();
    await pipeline.drain();
    await workers?.stop();
    await rt.stop();
    log.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
} catch (err) {
  const message = err instanceof PolicyError || err instanceof Error ? err.message : String(err);
  console.error(`gas-service bot failed to start: ${message}`);
  process.exit(1);
}
