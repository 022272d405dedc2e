import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createWeChatApi,
  installMenu,
  OA_MENU,
  TOKEN_MARGIN_SEC,
  tokenKeys,
  WeChatApiError,
} from '../../../src/bot/wechat/official-account/index.ts';
import { createLogger } from '../../../src/log.ts';
import { connectRedis } from '../../../src/workers/queues.ts';
import { deleteKeysUnder } from '../../fixtures/redis-keys.ts';
import { testRedisUrl } from '../../fixtures/urls.ts';
import { FakeWeChat, OA_APP_ID, OA_APP_SECRET, OA_TOKEN } from '../../fixtures/wechat-oa.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));
const log = createLogger('silent');

let fake: FakeWeChat;
let redis: Redis;
beforeAll(async () => {
  fake = await new FakeWeChat().start();
  redis = connectRedis(testRedisUrl());
});
/** A key space of its own for a test (deleted after the file). */
const prefixes: string[] = [];
const newPrefix = () => {
  const prefix = `gsbt${randomBytes(4).toString('hex')}`;
  prefixes.push(prefix);
  return prefix;
};

afterAll(async () => {
  for (const prefix of prefixes) await deleteKeysUnder(prefix);
  await fake?.stop();
  await redis?.quit();
});

/** One API client per "process", all sharing Redis under one prefix. */
const clients = (n: number, prefix = newPrefix()) =>
  Array.from({ length: n }, () =>
    createWeChatApi({ appId: OA_APP_ID, appSecret: OA_APP_SECRET, apiBase: fake.base, redis, prefix, log }),
  );

describe('the access token', () => {
  it('is fetched once for many processes asking at once, and kept until shortly before it expires', async () => {
    const prefix = newPrefix();
    const before = fake.tokenCalls;
    const tokens = await Promise.all(clients(6, prefix).map((c) => c.accessToken()));
    expect(fake.tokenCalls - before).toBe(1);
    expect(new Set(tokens).size).toBe(1);
    const ttl = await redis.pttl(tokenKeys(prefix, OA_APP_ID).token);
    expect(ttl).toBeGreaterThan((7200 - TOKEN_MARGIN_SEC - 5) * 1000);
    expect(ttl).toBeLessThanOrEqual((7200 - TOKEN_MARGIN_SEC) * 1000);
  });

  it('a token reported invalid is replaced once, however many processes report it', async () => {
    const prefix = newPrefix();
    const [first, ...others] = clients(5, prefix);
    const old = await first!.accessToken();
    const before = fake.tokenCalls;
    const fresh = await Promise.all([first!, ...others].map((c) => c.accessToken(old)));
    expect(fake.tokenCalls - before).toBe(1);
    expect(new Set(fresh).size).toBe(1);
    expect(fresh[0]).not.toBe(old);
  });

  it('a token error from WeChat (whitelist, secret) is an error naming the fix', async () => {
    fake.failNext('token', 40164);
    const [api] = clients(1);
    const err = await api!.accessToken().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WeChatApiError);
    expect((err as Error).message).toContain('IP whitelist');
  });
});

describe('the custom menu', () => {
  it('installMenu posts the three CLICK buttons to menu/create', async () => {
    const [api] = clients(1);
    const line = await installMenu(api!);
    expect(line).toBe('menu installed: 报修/报警 → m:repair, 我的工单 → m:mycases, 人工客服 → m:human');
    expect(fake.to('menu').at(-1)!.body).toEqual(OA_MENU);
  });

  it('install-menu.ts runs with tsx and prints one line', async () => {
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: newPrefix(),
      WECHAT_OA_APP_ID: OA_APP_ID,
      WECHAT_OA_APP_SECRET: OA_APP_SECRET,
      WECHAT_OA_TOKEN: OA_TOKEN,
      WECHAT_API_BASE: fake.base,
    };
    const script = 'src/bot/wechat/official-account/install-menu.ts';
    const tsx = `${root}node_modules/.bin/tsx`;
    const before = fake.to('menu').length;
    const ok = await run(tsx, [script], { cwd: root, env, timeout: 20_000 });
    expect(ok.stdout.trim().split('\n')).toEqual([
      'menu installed: 报修/报警 → m:repair, 我的工单 → m:mycases, 人工客服 → m:human',
    ]);
    expect(fake.to('menu').length).toBe(before + 1);

    fake.failNext('menu', 48001);
    const failed = await run(tsx, [script], { cwd: root, env, timeout: 20_000 }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(failed).toMatchObject({ code: 1 });
    expect((failed as { stderr: string }).stderr.trim()).toMatch(
      /^menu not installed: wechat menu\/create: 48001/,
    );
  }, 40_000);
});
