import { type Logger, pino } from 'pino';

export type { Logger };

// Mainland mobiles, landlines with area code, and long digit runs (ids, card numbers).
const PHONE_LIKE = /(?:\+?86[\s-]?)?(?:1[3-9]\d{9}|0\d{2,3}[\s-]?\d{7,8})/g;

/** Masks phone-like digit runs in free text so a careless log line cannot leak them. */
export function scrubText(text: string): string {
  return text.replace(PHONE_LIKE, '[phone]');
}

/**
 * The process logger: JSON lines, with personal data (phones, addresses, names, message texts)
 * redacted wherever it appears in logged objects.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: {
        paths: [
          'phone',
          'address',
          'name',
          'text',
          '*.phone',
          '*.address',
          '*.name',
          '*.text',
          '*.*.phone',
          '*.*.address',
          'req.headers.authorization',
          'req.headers["x-telegram-bot-api-secret-token"]',
        ],
        censor: '[redacted]',
      },
      hooks: {
        logMethod(args, method) {
          // Scrub the message string (the last string argument), never the merge object's keys.
          const scrubbed = args.map((a) => (typeof a === 'string' ? scrubText(a) : a)) as Parameters<
            typeof method
          >;
          method.apply(this, scrubbed);
        },
      },
    },
    destination,
  );
}

/**
 * What of an error may be logged: the message without query parameters (drizzle puts the
 * values of a failed query in its message, and they may be a customer's phone or address).
 */
export function describeError(err: unknown): { message: string; code?: string } {
  const e = err as { message?: string; code?: string; cause?: { message?: string; code?: string } };
  let message = String(e?.message ?? err);
  if (message.startsWith('Failed query:')) {
    const query = message.split('\n')[0]!.slice(0, 200);
    message = e.cause?.message ? `${e.cause.message} (${query})` : query;
  }
  return { message: scrubText(message.split('\nparams:')[0]!), code: e?.code ?? e?.cause?.code };
}
