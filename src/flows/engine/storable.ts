import type { InboundMessage } from './message.ts';

/**
 * Text PostgreSQL can store: no NUL character (neither `text` nor `jsonb` holds U+0000), and no
 * lone UTF-16 surrogate (`jsonb` refuses one; a channel may cut an emoji in half). NUL is dropped,
 * a lone surrogate becomes U+FFFD. Returns the same string when there is nothing to change.
 */
export function storableText(s: string): string {
  if (s.isWellFormed() && !s.includes('\0')) return s;
  return s.toWellFormed().replaceAll('\0', '');
}

/**
 * The message with every string made storable (see storableText), so that one bad character does
 * not make a message impossible to store (it would be refused, redelivered and refused again) and
 * does not fail the batch it arrives in. Returns the same object when nothing changes.
 */
export function storableMessage(msg: InboundMessage): InboundMessage {
  return clean(msg) as InboundMessage;
}

function clean(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) {
    const items = value.map(clean);
    return items.some((v, i) => v !== value[i]) ? items : value;
  }
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  let copy: Record<string, unknown> | null = null;
  const record = value as Record<string, unknown>;
  for (const k in record) {
    if (!Object.hasOwn(record, k)) continue;
    const v = record[k];
    const c = clean(v);
    if (c !== v) {
      copy ??= { ...record };
      copy[k] = c;
    }
  }
  return copy ?? value;
}
