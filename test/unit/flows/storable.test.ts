import { describe, expect, it } from 'vitest';
import type { InboundMessage } from '../../../src/flows/engine/message.ts';
import { storableMessage, storableText } from '../../../src/flows/engine/storable.ts';

describe('storableText', () => {
  it('drops NUL and turns a lone surrogate into U+FFFD; keeps whole emoji and Chinese', () => {
    expect(storableText('没\u0000气了')).toBe('没气了');
    expect(storableText('燃气\ud83d')).toBe('燃气\ufffd');
    expect(storableText('\udc00漏气')).toBe('\ufffd漏气');
    expect(storableText('谢谢🔥👍')).toBe('谢谢🔥👍');
  });

  it('returns the very string when there is nothing to change', () => {
    const s = '西湖区文三路 100 号';
    expect(storableText(s)).toBe(s);
  });
});

describe('storableMessage', () => {
  const base: InboundMessage = {
    channel: 'telegram',
    channelMessageId: '42:7',
    chatId: '42',
    chatKind: 'private',
    sender: { id: '42', name: '王\u0000五' },
    text: '漏气\ud83d',
    attachments: [{ kind: 'image', ref: 'file-1', caption: '灶\u0000台' }],
    receivedAt: new Date('2026-11-30T02:00:00Z'),
  };

  it('cleans every string, nested ones too, and keeps the rest as it is', () => {
    const clean = storableMessage(base);
    expect(clean).toEqual({
      ...base,
      sender: { id: '42', name: '王五' },
      text: '漏气\ufffd',
      attachments: [{ kind: 'image', ref: 'file-1', caption: '灶台' }],
    });
    expect(clean.receivedAt).toBe(base.receivedAt);
    expect(base.text).toBe('漏气\ud83d'); // the original is not changed
  });

  it('returns the same object when nothing needs cleaning', () => {
    const fine: InboundMessage = { ...base, sender: { id: '42' }, text: '没气了', attachments: [] };
    expect(storableMessage(fine)).toBe(fine);
  });
});
