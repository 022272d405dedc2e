import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Telegram } from 'telegraf';
import { describeError, type Logger } from '../../log.ts';
import type { ApiSignal } from './api.ts';

/** Telegram lets bots download files up to 20 MB; anything bigger is not fetched. */
export const MAX_PHOTO_BYTES = 20 * 1024 * 1024;
/** getFile and the download together give up after this long. */
export const PHOTO_DOWNLOAD_TIMEOUT_MS = 60_000;
/** How long `stop()` lets downloads in flight finish before aborting them. */
export const PHOTO_STOP_GRACE_MS = 5_000;

const FILE_MODE = 0o640;
const DIR_MODE = 0o750;

/** Where the copies go: `<DATA_DIR>/media/telegram`. */
export function telegramMediaDir(dataDir: string): string {
  return join(dataDir, 'media', 'telegram');
}

/**
 * A file name stem from Telegram's id: kept as it is when it is a plain id (letters, digits,
 * `_`, `-`, as Telegram's ids are), otherwise a hash of it — never anything with a path in it,
 * and two different ids never end up with the same name.
 */
export function safeStem(id: string): string {
  if (/^[A-Za-z0-9_-]{1,128}$/.test(id)) return id;
  return `h-${createHash('sha256').update(id, 'utf8').digest('hex').slice(0, 40)}`;
}

/** The extension of Telegram's `file_path` when it is a plain one (`photos/file_3.jpg` → `jpg`), else `jpg`. */
export function safeExtension(filePath: string): string {
  const base = filePath.split(/[\\/]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  const ext = dot > 0 ? base.slice(dot + 1) : '';
  return /^[A-Za-z0-9]{1,8}$/.test(ext) ? ext.toLowerCase() : 'jpg';
}

/**
 * `{apiRoot}/file/bot<token>/<file_path>`, with the path's empty, `.` and `..` segments dropped
 * and every segment percent-encoded, so a strange `file_path` cannot point the request elsewhere.
 */
export function telegramFileUrl(apiRoot: string, token: string, filePath: string): string {
  const segments = filePath
    .split(/[\\/]+/)
    .filter((s) => s !== '' && s !== '.' && s !== '..')
    .map(encodeURIComponent);
  if (segments.length === 0) throw new Error('getFile returned an unusable file_path');
  return `${apiRoot.replace(/\/+$/, '')}/file/bot${token}/${segments.join('/')}`;
}

export interface PhotoRef {
  fileId: string;
  /** Stable across bots and time (a file id is not): names the copy on disk. */
  fileUniqueId?: string;
  fileSize?: number;
}

export interface PhotoDownloaderOptions {
  telegram: Telegram;
  token: string;
  apiRoot: string;
  /** The resolved DATA_DIR. */
  dataDir: string;
  log: Logger;
  maxBytes?: number;
  timeoutMs?: number;
  /** Downloads at a time; more wait in a queue. */
  concurrency?: number;
  /** Beyond this many waiting, new photos are not copied (logged). */
  maxQueued?: number;
}

export interface PhotoDownloader {
  /** Queues a copy of the photo; returns at once and never throws. `updateId` is only for the logs. */
  enqueue(photo: PhotoRef, updateId: number): void;
  /** Resolves when nothing is queued or downloading. */
  idle(): Promise<void>;
  /** Takes no more; drops the queue, lets downloads in flight finish for `graceMs`, then aborts them. */
  stop(graceMs?: number): Promise<void>;
}

class TooBig extends Error {}

type Outcome = 'saved' | 'exists' | 'too-big';

/**
 * Keeps local copies of customers' photos (policy `telegram.downloadPhotos`), since Telegram
 * keeps files only for a while. Runs after the update is stored, in the background: nothing here
 * holds up or fails the update's handling. getFile gives the file's path on the Bot API, the file
 * is fetched from `{apiRoot}/file/bot<token>/<path>` (at most 20 MB) and written to
 * `<DATA_DIR>/media/telegram/<file_unique_id>.<ext>` (mode 0640; written to a temporary name and
 * renamed, so a half-written copy never has the final name). A copy that exists is not fetched
 * again (the same photo forwarded twice is one copy).
 *
 * Naming: the stored message keeps the attachment exactly as received (`ref` = the file id);
 * nothing is added to it, since the copy is made after it is stored. The copy is named by the
 * photo's `file_unique_id` (stable, unlike file ids), or by the file id when Telegram gave none
 * (ids that are not plain letters/digits/`_`/`-` become `h-<sha256>`). To go from a stored message
 * to its copy, ask getFile for the attachment's `ref`: its `file_unique_id` and the extension of
 * its `file_path` give `<file_unique_id>.<ext>` (jpg for photos).
 * Only a newly stored message is copied (a redelivered duplicate is not). A local Bot API server
 * in `--local` mode (absolute `file_path`s, no file downloads over HTTP) is not supported: the
 * failure is logged. Failures are logged with the update id only: no file ids, paths, names or
 * the token.
 */
export function createPhotoDownloader(o: PhotoDownloaderOptions): PhotoDownloader {
  const maxBytes = o.maxBytes ?? MAX_PHOTO_BYTES;
  const timeoutMs = o.timeoutMs ?? PHOTO_DOWNLOAD_TIMEOUT_MS;
  const concurrency = o.concurrency ?? 2;
  const maxQueued = o.maxQueued ?? 200;
  const dir = telegramMediaDir(o.dataDir);
  const aborter = new AbortController();
  const queue: { photo: PhotoRef; updateId: number }[] = [];
  const keys = new Set<string>(); // queued or running: the same photo twice is fetched once
  const running = new Set<Promise<void>>();
  let stopped = false;

  // Errors from the Bot API client may carry the request URL, and with it the token.
  const safeError = (err: unknown) => {
    const d = describeError(err);
    return { ...d, message: d.message.replaceAll(o.token, '[token]') };
  };

  async function download(photo: PhotoRef, signal: AbortSignal): Promise<Outcome> {
    if (photo.fileSize !== undefined && photo.fileSize > maxBytes) return 'too-big';
    const file = (await o.telegram.callApi(
      'getFile',
      { file_id: photo.fileId },
      { signal: signal as unknown as ApiSignal },
    )) as { file_unique_id?: string; file_size?: number; file_path?: string };
    if (!file.file_path) throw new Error('getFile returned no file_path');
    if (file.file_size !== undefined && file.file_size > maxBytes) return 'too-big';
    const name = `${safeStem(photo.fileUniqueId ?? file.file_unique_id ?? photo.fileId)}.${safeExtension(file.file_path)}`;
    const target = join(dir, name);
    if (dirname(target) !== dir) throw new Error('unsafe media file name'); // cannot happen: belt and braces
    if (await exists(target)) return 'exists';

    const res = await fetch(telegramFileUrl(o.apiRoot, o.token, file.file_path), { signal });
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => {});
      throw new Error(`file download answered HTTP ${res.status}`);
    }
    const length = Number(res.headers.get('content-length') ?? Number.NaN);
    if (length > maxBytes) {
      await res.body.cancel().catch(() => {});
      return 'too-big';
    }
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
    const part = join(dir, `.${name}.${randomBytes(6).toString('hex')}.part`);
    let bytes = 0;
    const cap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        done(bytes > maxBytes ? new TooBig() : null, chunk);
      },
    });
    try {
      await pipeline(
        Readable.fromWeb(res.body as unknown as WebReadableStream),
        cap,
        createWriteStream(part, { flags: 'wx', mode: FILE_MODE }),
        { signal },
      );
      await chmod(part, FILE_MODE); // the umask may have taken bits off
      await rename(part, target);
    } catch (err) {
      await rm(part, { force: true }).catch(() => {});
      if (err instanceof TooBig) return 'too-big';
      throw err;
    }
    return 'saved';
  }

  async function run(photo: PhotoRef, updateId: number): Promise<void> {
    const started = Date.now();
    try {
      const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), aborter.signal]);
      const outcome = await download(photo, signal);
      if (outcome === 'too-big')
        o.log.warn({ updateId, maxBytes }, 'telegram photo too big to download; only the file id is kept');
      else o.log.debug({ updateId, outcome, ms: Date.now() - started }, 'telegram photo copy');
    } catch (err) {
      o.log.warn(
        { updateId, err: safeError(err), aborted: aborter.signal.aborted },
        aborter.signal.aborted
          ? 'telegram photo download stopped by shutdown; only the file id is kept'
          : 'telegram photo download failed; only the file id is kept',
      );
    }
  }

  function pump() {
    while (!stopped && running.size < concurrency && queue.length > 0) {
      const { photo, updateId } = queue.shift()!;
      const key = photo.fileUniqueId ?? photo.fileId;
      const p: Promise<void> = run(photo, updateId).finally(() => {
        running.delete(p);
        keys.delete(key);
        pump();
      });
      running.add(p);
    }
  }

  return {
    enqueue(photo, updateId) {
      try {
        if (stopped) {
          o.log.info({ updateId }, 'telegram photo not downloaded: the channel is stopping');
          return;
        }
        const key = photo.fileUniqueId ?? photo.fileId;
        if (keys.has(key)) return;
        if (queue.length >= maxQueued) {
          o.log.warn({ updateId, queued: queue.length }, 'telegram photo downloads backed up; skipping one');
          return;
        }
        keys.add(key);
        queue.push({ photo, updateId });
        pump();
      } catch (err) {
        o.log.warn({ updateId, err: safeError(err) }, 'telegram photo download could not be queued');
      }
    },
    async idle() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
    async stop(graceMs = PHOTO_STOP_GRACE_MS) {
      stopped = true;
      if (queue.length > 0)
        o.log.info({ dropped: queue.length }, 'telegram photo downloads not started before stopping');
      queue.length = 0;
      if (running.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        });
        await Promise.race([Promise.allSettled([...running]), grace]);
        clearTimeout(timer);
      }
      aborter.abort();
      await Promise.allSettled([...running]);
    },
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
