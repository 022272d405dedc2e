import { describe, expect, it } from 'vitest';
import {
  actionRef,
  CALLBACK_DATA_MAX_BYTES,
  callbackKey,
  decodeCallback,
  encodeCallback,
} from '../../../../src/bot/telegram/callback-data.ts';

const key = callbackKey('123456:TEST-token-abcdefghijklmnopqrstuvwxyz');
const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

describe('signed button payloads', () => {
  it.each([
    'c:repair:category:nogas',
    'case:100023:resolve',
    'rate:100023:5',
    'm:repair',
    'g:back',
    'case:4294967295:resolve',
    'c:resolve:firstTime:yes',
  ])('%s round-trips as <action>|<8 chars> within 64 bytes', (action) => {
    const { data, stash } = encodeCallback(key, '1001', action);
    expect(stash).toBeUndefined();
    expect(data).toMatch(new RegExp(`^${action.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\|[A-Za-z0-9_-]{8}$`));
    expect(bytes(data)).toBeLessThanOrEqual(CALLBACK_DATA_MAX_BYTES);
    expect(decodeCallback(key, '1001', data)).toEqual({ kind: 'action', action });
  });

  it('refuses a missing, unsigned, tampered or forged payload', () => {
    const { data } = encodeCallback(key, '1001', 'case:100023:take');
    expect(decodeCallback(key, '1001', undefined)).toEqual({ kind: 'invalid', reason: 'missing' });
    expect(decodeCallback(key, '1001', 'case:100023:take')).toEqual({ kind: 'invalid', reason: 'unsigned' });
    expect(decodeCallback(key, '1001', data.replace('100023', '100024'))).toMatchObject({ kind: 'invalid' });
    expect(decodeCallback(key, '1001', 'case:100023:take|AAAAAAAA')).toMatchObject({ kind: 'invalid' });
    expect(decodeCallback(key, '1001', `${data}x`)).toMatchObject({ kind: 'invalid' });
  });

  it('a button only works in the chat it was sent to, and only for this bot', () => {
    const { data } = encodeCallback(key, '-100200', 'case:100023:take');
    expect(decodeCallback(key, '-100200', data)).toEqual({ kind: 'action', action: 'case:100023:take' });
    expect(decodeCallback(key, '1001', data)).toMatchObject({ kind: 'invalid', reason: 'bad-signature' });
    const otherBot = callbackKey('999:another-token-abcdefghijklmnopqrst');
    expect(decodeCallback(otherBot, '-100200', data)).toMatchObject({ kind: 'invalid' });
  });

  it('an action too long for a button becomes a signed short reference to store server-side', () => {
    const action = `c:repair:category:${'a'.repeat(40)}`;
    const { data, stash } = encodeCallback(key, '1001', action);
    expect(bytes(data)).toBeLessThanOrEqual(CALLBACK_DATA_MAX_BYTES);
    expect(stash).toEqual({ ref: actionRef(action), action });
    expect(decodeCallback(key, '1001', data)).toEqual({ kind: 'ref', ref: actionRef(action) });
    // Multi-byte labels count in bytes, not characters.
    const wide = `c:enquiry:topic:${'燃'.repeat(14)}`;
    expect(encodeCallback(key, '1001', wide).stash?.action).toBe(wide);
    // An action that looks like a reference is never taken for one.
    expect(encodeCallback(key, '1001', '#abc').stash?.action).toBe('#abc');
  });
});
