import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../../src/bot/server.ts';
import { eventually, startTestBot, type TestBot } from '../../fixtures/harness.ts';

let bot: TestBot;
let app: FastifyInstance;

beforeAll(async () => {
  bot = await startTestBot({ workers: true });
  app = await buildServer(bot.rt, bot.pipeline);
});
afterAll(async () => {
  await app?.close();
  await bot?.close();
});

const post = (body: unknown) =>
  app.inject({ method: 'POST', url: '/api/web/messages', payload: body as Record<string, unknown> });
const get = (url: string) => app.inject({ method: 'GET', url });

describe('the web chat JSON API', () => {
  it('accepts a message with 202 and shows the reply with its buttons', async () => {
    const res = await post({ chatId: 'c-api1', userId: 'api1', text: '你好', messageId: 'api1-1' });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ accepted: true, duplicate: false });
    const body = await eventually(async () => {
      const r = await get('/api/web/chats/c-api1/messages');
      const json = r.json() as {
        messages: { text: string; choices: { action: string }[] }[];
        cursor: string;
      };
      return json.messages.length > 0 ? json : undefined;
    });
    expect(body.messages[0]!.text).toContain('请选择要办理的业务');
    expect(body.messages[0]!.choices.map((c) => c.action)).toContain('m:enquiry');
    // The cursor returns only what is newer.
    const next = await get(`/api/web/chats/c-api1/messages?after=${body.cursor}`);
    expect(next.json()).toEqual({ messages: [], cursor: body.cursor });
  });

  it('a retried POST with the same messageId is a duplicate, processed once', async () => {
    const first = await post({ chatId: 'c-api2', userId: 'api2', text: '你好', messageId: 'same' });
    const again = await post({ chatId: 'c-api2', userId: 'api2', text: '你好', messageId: 'same' });
    expect(first.json().duplicate).toBe(false);
    expect(again.json().duplicate).toBe(true);
    await eventually(async () =>
      (await get('/api/web/chats/c-api2/messages')).json().messages.length === 1 ? true : undefined,
    );
  });

  it('a button press (action) works like a tap', async () => {
    await post({ chatId: 'c-api3', userId: 'api3', action: 'm:enquiry' });
    const body = await eventually(async () => {
      const json = (await get('/api/web/chats/c-api3/messages')).json();
      return json.messages.length > 0 ? json : undefined;
    });
    expect(body.messages[0].text).toBe('请选择咨询类别：');
  });

  it('staff messages in the team group are accepted; an unknown group is 404', async () => {
    expect(
      (await post({ chatId: 'group-repair', userId: 'wang', chatKind: 'group', text: '/help' })).statusCode,
    ).toBe(202);
    const res = await post({ chatId: 'group-nowhere', userId: 'wang', chatKind: 'group', text: '接单 1' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: { code: 'chat_not_found', message: 'no group chat group-nowhere' } });
  });
});

describe('bad requests get a 4xx with a message, never a 500', () => {
  it.each([
    ['no body fields', {}, 'chatId'],
    ['a chat id with spaces', { chatId: 'a b', userId: 'u' }, 'chatId'],
    ['a number for text', { chatId: 'c-x', userId: 'x', text: 42 }, 'text'],
    ['an over-long text', { chatId: 'c-x', userId: 'x', text: 'x'.repeat(20_001) }, 'text'],
    ['an unknown chat kind', { chatId: 'c-x', userId: 'x', chatKind: 'channel' }, 'chatKind'],
    ['a bad message id', { chatId: 'c-x', userId: 'x', messageId: '../../etc' }, 'messageId'],
  ])('%s', async (_name, body, field) => {
    const res = await post(body);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('invalid_message');
    expect(res.json().error.message).toContain(field);
  });

  it('malformed JSON', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/web/messages',
      headers: { 'content-type': 'application/json' },
      payload: '{"chatId": "c-1", ',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toBeTruthy();
    expect(res.body).not.toContain('at ');
  });

  it('a chat nobody has written in', async () => {
    const res = await get('/api/web/chats/c-never/messages');
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('chat_not_found');
  });

  it('a bad cursor and a bad chat id', async () => {
    expect((await get('/api/web/chats/c-api1/messages?after=abc')).statusCode).toBe(400);
    expect((await get('/api/web/chats/%20bad%20/messages')).statusCode).toBe(400);
  });

  it('an unknown route', async () => {
    const res = await get('/api/web/nothing');
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('not_found');
  });
});

describe('the page and health', () => {
  it('serves the chat page at /', async () => {
    const res = await get('/');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.body).toContain('persona-select');
  });

  it('reports db, redis and calendar coverage at /healthz', async () => {
    const res = await get('/healthz');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok', db: 'ok', redis: 'ok' });
    expect(['ok', 'warn']).toContain(res.json().calendar.status);
  });

  it('lists the demo personas', async () => {
    const res = (await get('/api/web/personas')).json();
    expect(res.staff).toContainEqual(expect.objectContaining({ userId: 'wang', chatId: 'group-repair' }));
    expect(res.managers).toContainEqual(expect.objectContaining({ userId: 'zhao', chatId: 'dm-zhao' }));
  });
});
