import { describe, expect, it } from 'vitest';
import {
  safeExtension,
  safeStem,
  telegramFileUrl,
  telegramMediaDir,
} from '../../../../src/bot/telegram/media.ts';
import { largestPhoto } from '../../../../src/bot/telegram/updates.ts';

const TOKEN = '123456:TEST-token';

describe('photo copy names and URLs', () => {
  it('the media folder is DATA_DIR/media/telegram', () => {
    expect(telegramMediaDir('/srv/gas/data')).toBe('/srv/gas/data/media/telegram');
  });

  it('a plain Telegram id names the file as it is; anything else by a hash, never with a path in it', () => {
    expect(safeStem('AQADbWoAAkK1-E1y')).toBe('AQADbWoAAkK1-E1y');
    for (const id of ['../../etc/passwd', '..', '.', 'a/b', 'a\\b', '', 'x'.repeat(129), 'a\u0000b', 'é']) {
      const stem = safeStem(id);
      expect(stem).toMatch(/^h-[0-9a-f]{40}$/);
    }
    // Different ids never share a name, even when they would strip to the same thing.
    expect(safeStem('a.b')).not.toBe(safeStem('a/b'));
  });

  it('the extension is taken from a plain file_path, else jpg', () => {
    expect(safeExtension('photos/file_12.jpg')).toBe('jpg');
    expect(safeExtension('documents/file_3.PNG')).toBe('png');
    expect(safeExtension('../../etc/passwd')).toBe('jpg');
    expect(safeExtension('photos/..')).toBe('jpg');
    expect(safeExtension('photos/.bashrc')).toBe('jpg');
    expect(safeExtension('photos/x.j/pg')).toBe('jpg');
    expect(safeExtension('photos/x.jp g')).toBe('jpg');
    expect(safeExtension('photos/x.verylongext')).toBe('jpg');
  });

  it('the download URL stays under /file/bot<token>/ whatever file_path says', () => {
    expect(telegramFileUrl('https://api.telegram.org/', TOKEN, 'photos/file_12.jpg')).toBe(
      `https://api.telegram.org/file/bot${TOKEN}/photos/file_12.jpg`,
    );
    const climbing = telegramFileUrl('http://127.0.0.1:8081', TOKEN, '../../etc/passwd');
    expect(climbing).toBe(`http://127.0.0.1:8081/file/bot${TOKEN}/etc/passwd`);
    expect(new URL(climbing).pathname).toBe(`/file/bot${TOKEN}/etc/passwd`);
    // Percent-encoded dots are encoded again, so the URL parser cannot read them as `..`.
    const encoded = new URL(telegramFileUrl('http://h', TOKEN, '%2e%2e/%2E%2E/x?y#z'));
    expect(encoded.pathname.startsWith(`/file/bot${TOKEN}/`)).toBe(true);
    expect(encoded.search).toBe('');
    expect(encoded.hash).toBe('');
    expect(() => telegramFileUrl('http://h', TOKEN, '../..')).toThrow();
  });

  it('largestPhoto picks the biggest size, by area then bytes', () => {
    expect(
      largestPhoto({
        message_id: 1,
        chat: { id: 1, type: 'private' },
        photo: [
          { file_id: 's', width: 90, height: 90 },
          { file_id: 'l', file_unique_id: 'ul', width: 1280, height: 960 },
          { file_id: 'm', width: 320, height: 240 },
        ],
      })?.file_unique_id,
    ).toBe('ul');
    expect(largestPhoto({ message_id: 1, chat: { id: 1, type: 'private' } })).toBeUndefined();
    expect(largestPhoto({ message_id: 1, chat: { id: 1, type: 'private' }, photo: [] })).toBeUndefined();
  });
});
