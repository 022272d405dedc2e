import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { isUpdate, type TgUpdate } from './updates.ts';

export const WEBHOOK_PATH = '/telegram/webhook';
export const SECRET_HEADER = 'x-telegram-bot-api-secret-token';

/**
 * Compares the secret in constant time: both sides are hashed to 32 bytes first, so neither the
 * content nor the length of the expected secret leaks through timing.
 */
export function secretMatches(given: unknown, expected: string): boolean {
  if (typeof given !== 'string' || given.length === 0) return false;
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/**
 * `POST /telegram/webhook`: a request without the right `X-Telegram-Bot-Api-Secret-Token` gets
 * 401 before its body is read; an update is answered 200 only once it is stored (a failure to
 * store answers 500, and Telegram delivers it again). Register before `app.listen`.
 */
export function registerTelegramWebhook(
  app: FastifyInstance,
  opts: { secret: string; handle: (update: TgUpdate) => Promise<void>; path?: string },
): void {
  app.post(
    opts.path ?? WEBHOOK_PATH,
    {
      onRequest: async (req, reply) => {
        if (!secretMatches(req.headers[SECRET_HEADER], opts.secret))
          return reply
            .code(401)
            .send({ error: { code: 'unauthorized', message: 'missing or wrong secret token' } });
      },
    },
    async (req, reply) => {
      if (!isUpdate(req.body))
        return reply
          .code(400)
          .send({ error: { code: 'invalid_update', message: 'expected a Telegram update' } });
      await opts.handle(req.body);
      return reply.code(200).send({ ok: true });
    },
  );
}
