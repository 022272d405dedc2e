import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { and, eq } from 'drizzle-orm';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTelegramApi } from '../../../src/bot/telegram/api.ts';
import { type RunningTelegram, startTelegram, telegramMediaDir } from '../../../src/bot/telegram/index.ts';
import { createPhotoDownloader } from '../../../src/bot/telegram/media.ts';
import type { TgPhotoSize } from '../../../src/bot/telegram/updates.ts';
import { inboundMessages } from '../../../src/db/schema/index.ts';
import type { Runtime } from '../../../src/runtime.ts';
import { eventually, startTestBot, type TestBot } from '../../fixtures/harness.ts';
import { testPolicy } from '../../fixtures/policy.ts';
import { capturingLogger, TEST_TOKEN, withTelegramEnv } from '../../fixtures/telegram.ts';

const SECRET = 'webhook-secret-photos-0123456789';

/** What the fake Bot API answers to getFile for one file id. */
type GetFileAnswer = { status: number; body: unknown };
/** A file it serves under /file/bot<token>/…: optionally held back until the test lets it go. */
type Blob = { bytes: Buffer; hold?: Promise<void>; chunked?: boolean };

/**
 * A tiny Bot API on loopback with what the emulator lacks: getFile, and the file downloads. Every
 * other method answers `ok` (getMe with a username). Records getFile's file ids and the raw paths
 * of file requests.
 */
async function startFakeFileApi() {
  const getFile = new Map<string, GetFileAnswer>();
  const blobs = new Map<string, Blob>();
  const getFileCalls: string[] = [];
  const fileRequests: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '';
    if (req.method === 'GET' && url.startsWith('/file/')) {
      fileRequests.push(url);
      const blob = blobs.get(url);
      if (!blob) return void res.writeHead(404).end('not found');
      void (async () => {
        await blob.hold;
        if (blob.chunked) {
          res.writeHead(200, { 'content-type': 'image/jpeg' });
          for (let i = 0; i < blob.bytes.length; i += 512) res.write(blob.bytes.subarray(i, i + 512));
          res.end();
        } else
          res
            .writeHead(200, { 'content-type': 'image/jpeg', 'content-length': blob.bytes.length })
            .end(blob.bytes);
      })();
      return;
    }
    let raw = '';
    req.on('data', (chunk) => {
      raw += chunk;
    });
    req.on('end', () => {
      const method = url.split('/').pop() ?? '';
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      let answer: GetFileAnswer = { status: 200, body: { ok: true, result: true } };
      if (method === 'getMe')
        answer = { status: 200, body: { ok: true, result: { id: 1, is_bot: true, username: 'gas_bot' } } };
      if (method === 'getFile') {
        const fileId = String(body.file_id);
        getFileCalls.push(fileId);
        answer = getFile.get(fileId) ?? {
          status: 400,
          body: { ok: false, error_code: 400, description: 'Bad Request: invalid file_id' },
        };
      }
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    apiRoot: `http://127.0.0.1:${port}`,
    getFile,
    blobs,
    getFileCalls,
    fileRequests,
    /** Makes `fileId` a file at `filePath` on the fake Bot API, served with `bytes` (at `servedAt`). */
    file(
      fileId: string,
      o: {
        unique: string;
        filePath: string;
        servedAt?: string;
        bytes: Buffer;
        size?: number;
      } & Partial<Blob>,
    ) {
      getFile.set(fileId, {
        status: 200,
        body: {
          ok: true,
          result: {
            file_id: fileId,
            file_unique_id: o.unique,
            file_size: o.size ?? o.bytes.length,
            file_path: o.filePath,
          },
        },
      });
      blobs.set(`/file/bot${TEST_TOKEN}/${o.servedAt ?? o.filePath}`, {
        bytes: o.bytes,
        hold: o.hold,
        chunked: o.chunked,
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let bot: TestBot;
let api: Awaited<ReturnType<typeof startFakeFileApi>>;
let dataDir: string;
let offDataDir: string;
const captured = capturingLogger('debug');
/** The channel with `telegram.downloadPhotos: true`, and one with the default (off). */
let on: { rt: Runtime; app: FastifyInstance; telegram: RunningTelegram };
let off: { rt: Runtime; app: FastifyInstance; telegram: RunningTelegram };

async function channel(rt: Runtime) {
  const app = Fastify();
  const telegram = await startTelegram({ rt, pipeline: bot.pipeline, app });
  return { rt, app, telegram };
}

beforeAll(async () => {
  [bot, api] = await Promise.all([startTestBot(), startFakeFileApi()]);
  const root = await mkdtemp(join(tmpdir(), 'gsb-tg-photos-'));
  dataDir = join(root, 'on');
  offDataDir = join(root, 'off');
  const env = {
    TELEGRAM_API_ROOT: api.apiRoot,
    TELEGRAM_WEBHOOK_URL: 'https://bot.example.test/telegram/webhook',
    TELEGRAM_WEBHOOK_SECRET: SECRET,
  };
  const base = bot.rt;
  on = await channel({
    ...withTelegramEnv(base, { ...env, DATA_DIR: dataDir }),
    log: captured.log,
    deps: { ...base.deps, policy: testPolicy({ telegram: { downloadPhotos: true } }) },
  });
  off = await channel({ ...withTelegramEnv(base, { ...env, DATA_DIR: offDataDir }), log: captured.log });
  await Promise.all([on.telegram.ready, off.telegram.ready]);
});
afterAll(async () => {
  for (const c of [on, off]) {
    await c?.telegram.stop();
    await c?.app.close();
  }
  await bot?.close();
  await api?.close();
  if (dataDir) await rm(join(dataDir, '..'), { recursive: true, force: true });
});

let updateId = 7000;
/** A customer's photo (with a caption) in a private chat, as Telegram posts it. */
function photoUpdate(userId: number, sizes: TgPhotoSize[]) {
  updateId++;
  return {
    update_id: updateId,
    message: {
      message_id: updateId,
      from: { id: userId, is_bot: false, first_name: 'Zhang', language_code: 'zh-hans' },
      chat: { id: userId, type: 'private' },
      date: Math.floor(Date.now() / 1000),
      caption: '燃气表漏气',
      photo: sizes,
    },
  };
}

const post = (app: FastifyInstance, body: unknown) =>
  app.inject({
    method: 'POST',
    url: '/telegram/webhook',
    headers: { 'x-telegram-bot-api-secret-token': SECRET },
    payload: body as Record<string, unknown>,
  });

async function storedFor(chatId: number) {
  return bot.rt.database.db
    .select()
    .from(inboundMessages)
    .where(and(eq(inboundMessages.channel, 'telegram'), eq(inboundMessages.chatId, String(chatId))));
}

/** Every file under `dir`, as paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name).slice(dir.length + 1))
    .sort();
}

const bytes = (label: string, n = 3000) => Buffer.from(label.repeat(Math.ceil(n / label.length)).slice(0, n));

describe('copies of customers’ photos (webhook)', () => {
  it('downloadPhotos on: stored and answered 200 before the download; the largest size lands on disk', async () => {
    let release!: () => void;
    const hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    const big = bytes('\xff\xd8big-photo');
    api.file('big-file-id', { unique: 'AQADbig01', filePath: 'photos/file_12.jpg', bytes: big, hold });
    const res = await post(
      on.app,
      photoUpdate(4001, [
        { file_id: 'small-file-id', file_unique_id: 'AQADsmall', width: 90, height: 67, file_size: 900 },
        {
          file_id: 'big-file-id',
          file_unique_id: 'AQADbig01',
          width: 1280,
          height: 960,
          file_size: big.length,
        },
      ]),
    );
    expect(res.statusCode).toBe(200);
    // Stored with the file id, answered — while the file is still held back by the Bot API.
    const [row] = await storedFor(4001);
    expect(row?.payload.attachments).toEqual([{ kind: 'image', ref: 'big-file-id' }]);
    const target = join(telegramMediaDir(dataDir), 'AQADbig01.jpg');
    await eventually(async () => api.fileRequests.includes(`/file/bot${TEST_TOKEN}/photos/file_12.jpg`));
    await expect(stat(target)).rejects.toThrow();

    release();
    await on.telegram.downloadsIdle();
    expect(await readFile(target)).toEqual(big);
    expect((await stat(target)).mode & 0o777).toBe(0o640);
    expect(api.getFileCalls).toEqual(['big-file-id']); // the largest size only
    expect(await filesUnder(dataDir)).toEqual(['media/telegram/AQADbig01.jpg']); // no temporary left
  });

  it('downloadPhotos off (the default): stored, and nothing is fetched', async () => {
    expect(off.rt.deps.policy.telegram.downloadPhotos).toBe(false);
    api.file('off-file-id', { unique: 'AQADoff01', filePath: 'photos/file_13.jpg', bytes: bytes('off') });
    const res = await post(off.app, photoUpdate(4002, [{ file_id: 'off-file-id', width: 800, height: 600 }]));
    expect(res.statusCode).toBe(200);
    expect(await storedFor(4002)).toHaveLength(1);
    await off.telegram.downloadsIdle();
    expect(api.getFileCalls).not.toContain('off-file-id');
    expect(await filesUnder(offDataDir)).toEqual([]);
  });

  it('a file_path or id that climbs out (../../etc/passwd) is written inside the media folder', async () => {
    api.file('trav-file-id', {
      unique: 'AQADtrav1',
      filePath: '../../etc/passwd',
      servedAt: 'etc/passwd',
      bytes: bytes('trav'),
    });
    api.file('trav2-file-id', {
      unique: '../../../evil',
      filePath: 'photos/../../x.PNG',
      servedAt: 'photos/x.PNG',
      bytes: bytes('evil'),
    });
    expect((await post(on.app, photoUpdate(4003, [{ file_id: 'trav-file-id' }]))).statusCode).toBe(200);
    expect(
      (await post(on.app, photoUpdate(4003, [{ file_id: 'trav2-file-id', file_unique_id: '../../../evil' }])))
        .statusCode,
    ).toBe(200);
    await on.telegram.downloadsIdle();
    // The request stays under /file/bot<token>/, the `..` segments dropped.
    expect(api.fileRequests).toContain(`/file/bot${TEST_TOKEN}/etc/passwd`);
    expect(api.fileRequests.filter((u) => u.includes('..'))).toEqual([]);
    const media = telegramMediaDir(dataDir);
    expect(await readFile(join(media, 'AQADtrav1.jpg'))).toEqual(bytes('trav'));
    const files = await filesUnder(dataDir);
    const evil = files.find((f) => f.endsWith('.png'));
    expect(evil).toMatch(/^media\/telegram\/h-[0-9a-f]{40}\.png$/);
    expect(await readFile(join(dataDir, evil!))).toEqual(bytes('evil'));
    expect(files.every((f) => f.startsWith('media/telegram/'))).toBe(true);
  });

  it('getFile refused (400): logged without ids or token; the update is still stored and answered', async () => {
    const res = await post(
      on.app,
      photoUpdate(4004, [{ file_id: 'gone-file-id', file_unique_id: 'AQADgone' }]),
    );
    expect(res.statusCode).toBe(200);
    expect(await storedFor(4004)).toHaveLength(1);
    await on.telegram.downloadsIdle();
    expect(api.getFileCalls).toContain('gone-file-id');
    const line = captured
      .lines()
      .find(
        (l) =>
          l.msg === 'telegram photo download failed; only the file id is kept' && l.updateId === updateId,
      );
    expect(line).toBeDefined();
    expect((line!.err as { message: string }).message).toContain('invalid file_id');
    const text = JSON.stringify(line);
    for (const secret of ['gone-file-id', 'AQADgone', TEST_TOKEN]) expect(text).not.toContain(secret);
    await expect(stat(join(telegramMediaDir(dataDir), 'AQADgone.jpg'))).rejects.toThrow();
  });

  it('a copy already on disk is not fetched again; one over 20 MB is not fetched at all', async () => {
    const media = telegramMediaDir(dataDir);
    await mkdir(media, { recursive: true });
    await writeFile(join(media, 'AQADkept1.jpg'), 'kept');
    api.file('kept-file-id', { unique: 'AQADkept1', filePath: 'photos/file_20.jpg', bytes: bytes('new') });
    api.file('huge-file-id', {
      unique: 'AQADhuge1',
      filePath: 'photos/file_21.jpg',
      bytes: bytes('huge'),
      size: 21 * 1024 * 1024,
    });
    await post(on.app, photoUpdate(4005, [{ file_id: 'kept-file-id', file_unique_id: 'AQADkept1' }]));
    await post(on.app, photoUpdate(4005, [{ file_id: 'huge-file-id', file_unique_id: 'AQADhuge1' }]));
    await on.telegram.downloadsIdle();
    expect(await readFile(join(media, 'AQADkept1.jpg'), 'utf8')).toBe('kept');
    expect(api.fileRequests.filter((u) => /file_2[01]\.jpg$/.test(u))).toEqual([]);
    await expect(stat(join(media, 'AQADhuge1.jpg'))).rejects.toThrow();
    expect(
      captured.lines().some((l) => l.msg === 'telegram photo too big to download; only the file id is kept'),
    ).toBe(true);
  });
});

describe('photo downloader', () => {
  const downloader = (dir: string, o: { maxBytes?: number } = {}) =>
    createPhotoDownloader({
      telegram: createTelegramApi(TEST_TOKEN, api.apiRoot),
      token: TEST_TOKEN,
      apiRoot: api.apiRoot,
      dataDir: dir,
      log: captured.log,
      ...o,
    });

  it('a body that runs past the size cap (no Content-Length) is cut off and nothing is kept', async () => {
    const dir = join(dataDir, '..', 'cap');
    api.file('long-file-id', {
      unique: 'AQADlong1',
      filePath: 'photos/file_30.jpg',
      bytes: bytes('long', 4096),
      size: 100, // Telegram's size said small
      chunked: true,
    });
    const d = downloader(dir, { maxBytes: 1024 });
    d.enqueue({ fileId: 'long-file-id', fileUniqueId: 'AQADlong1' }, 1);
    await d.idle();
    expect(api.fileRequests).toContain(`/file/bot${TEST_TOKEN}/photos/file_30.jpg`);
    expect(await filesUnder(dir)).toEqual([]);
    await d.stop();
  });

  it('stop() waits briefly for a download in flight, then aborts it and leaves no partial file', async () => {
    const dir = join(dataDir, '..', 'stop');
    api.file('slow-file-id', {
      unique: 'AQADslow1',
      filePath: 'photos/file_31.jpg',
      bytes: bytes('slow'),
      hold: new Promise(() => {}), // never sent
    });
    const d = downloader(dir);
    d.enqueue({ fileId: 'slow-file-id', fileUniqueId: 'AQADslow1' }, 2);
    await eventually(async () => api.fileRequests.includes(`/file/bot${TEST_TOKEN}/photos/file_31.jpg`));
    const started = Date.now();
    await d.stop(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await filesUnder(dir)).toEqual([]);
    expect(
      captured
        .lines()
        .some((l) => l.msg === 'telegram photo download stopped by shutdown; only the file id is kept'),
    ).toBe(true);
    // Once stopped, nothing new starts.
    d.enqueue({ fileId: 'big-file-id', fileUniqueId: 'AQADbig01' }, 3);
    await d.idle();
    expect(await filesUnder(dir)).toEqual([]);
  });
});
