import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { EnvError, parseEnv } from '../../../src/env.ts';
import { createLogger, describeError } from '../../../src/log.ts';

describe('environment', () => {
  it('defaults give the embedded setup on port 3000', () => {
    const env = parseEnv({});
    expect(env).toMatchObject({
      PORT: 3000,
      REDIS_URL: 'redis://127.0.0.1:6379',
      DATA_DIR: './data',
      RUN_WORKERS: true,
    });
    expect(env.DATABASE_URL).toBeUndefined();
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ RUN_WORKERS: 'maybe' }, 'RUN_WORKERS'],
  ])('%j is refused in one line naming %s', (source, name) => {
    expect(() => parseEnv(source)).toThrow(EnvError);
    expect(() => parseEnv(source)).toThrow(new RegExp(`^Invalid environment variable ${name}: [^\\n]+$`));
  });
});

describe('logs', () => {
  function capture() {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    return { log: createLogger('info', stream), lines };
  }

  it('redact phones, addresses, names and texts in logged objects', () => {
    const { log, lines } = capture();
    log.info({ case: { phone: '13812345678', address: '文三路 1 号' }, text: '我家漏气' }, 'case opened');
    expect(lines.join('')).not.toMatch(/13812345678|文三路|漏气/);
  });

  it('scrub phone numbers from message strings', () => {
    const { log, lines } = capture();
    log.warn('customer 13812345678 called from 0571-87654321');
    expect(lines.join('')).not.toMatch(/13812345678|87654321/);
  });

  it('drop query parameters from database errors', () => {
    const err = new Error('Failed query: insert into cases (phone) values ($1)\nparams: 13812345678');
    (err as Error & { cause: unknown }).cause = { message: 'duplicate key', code: '23505' };
    expect(describeError(err)).toEqual({
      message: 'duplicate key (Failed query: insert into cases (phone) values ($1))',
      code: '23505',
    });
  });
});
