import { sql } from 'drizzle-orm';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Runtime } from '../runtime.ts';
import type { InboundPipeline } from './pipeline.ts';
import { registerWebChat } from './web/web-api.ts';

/**
 * The bot's HTTP server: health, the web chat and its API (and, with the channel issues, the
 * Telegram and WeChat webhooks). Errors are JSON with a code and a message, never a stack trace.
 */
export async function buildServer(rt: Runtime, pipeline: InboundPipeline): Promise<FastifyInstance> {
  // pino's Logger type is wider than Fastify's base logger; the instance is the same at run time.
  const app = Fastify({
    loggerInstance: rt.log.child({ part: 'http' }),
    // Per-request lines would log chat ids on every poll of the web chat; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 256 * 1024,
  }) as unknown as FastifyInstance;

  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err: { message: err.message, code: err.code } }, 'request failed');
    const message = status === 500 ? 'internal error; it has been logged' : err.message;
    return reply
      .code(status)
      .send({ error: { code: err.code ?? (status === 500 ? 'internal' : 'bad_request'), message } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` } }),
  );

  app.get('/healthz', async (_req, reply) => {
    const check = async (fn: () => Promise<unknown>) => {
      try {
        await Promise.race([
          fn(),
          new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000)),
        ]);
        return 'ok';
      } catch (err) {
        return `error: ${(err as Error).message}`;
      }
    };
    const [db, redis] = await Promise.all([
      check(() => rt.database.db.execute(sql`select 1`)),
      check(() => rt.redis.ping()),
    ]);
    const gaps = rt.calendarGaps();
    const calendar =
      gaps.length === 0
        ? { status: 'ok' }
        : {
            status: 'warn',
            missingYears: gaps,
            message: `no PRC holiday data for ${gaps.join(', ')}: add calendar.years to the policy`,
          };
    const ok = db === 'ok' && redis === 'ok';
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'error', db, redis, calendar });
  });

  if (rt.env.WEB_CHAT) await registerWebChat(app, rt, pipeline);
  return app;
}
