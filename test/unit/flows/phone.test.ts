import { describe, expect, it } from 'vitest';
import { maskAddress, maskPhone, normalizePhone } from '../../../src/flows/validate/phone.ts';

describe('phone numbers', () => {
  it.each([
    ['13812345678', '13812345678'],
    ['138 1234 5678', '13812345678'],
    ['+86 138-1234-5678', '13812345678'],
    ['１３８１２３４５６７８', '13812345678'],
    ['0086 13812345678', '13812345678'],
    ['0571-87654321', '0571-87654321'],
    ['057187654321', '0571-87654321'],
    ['(010) 12345678', '010-12345678'],
    ['0571-87654321转123', '0571-87654321'],
  ])('%s is normalised to %s', (input, expected) => {
    expect(normalizePhone(input)).toBe(expected);
  });

  it.each(['', '12345', '12812345678', '1381234567', '138123456789', 'abc', '110', '0000'])(
    '%j is not a phone number',
    (input) => {
      expect(normalizePhone(input)).toBeNull();
    },
  );

  it('masks mobiles and landlines for group chats', () => {
    expect(maskPhone('13812345678')).toBe('138****5678');
    expect(maskPhone('0571-87654321')).toBe('0571-****4321');
    expect(maskPhone(null)).toBe('—');
  });

  it('masks an address down to its street', () => {
    expect(maskAddress('杭州市西湖区文三路 123 号 5 幢 301')).toBe('杭州市西湖区文三路***');
    expect(maskAddress('幸福小区')).not.toContain('幸福小区');
    expect(maskAddress('A')).toBe('A***');
  });
});
