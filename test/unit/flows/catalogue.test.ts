import { describe, expect, it } from 'vitest';
import { createTranslator } from '../../../src/flows/engine/catalogue.ts';

describe('the message catalogue', () => {
  const t = createTranslator({ zh: { 'menu.enquiry': '{a}：{b}，再说 {a}{missing}。' } });

  it('fills every placeholder, the same one as often as it appears', () => {
    expect(t('zh', 'menu.enquiry', { a: 1, b: '好' })).toBe('1：好，再说 1{missing}。');
    // The same template again (compiled once) with other values.
    expect(t('zh', 'menu.enquiry', { a: 'x', b: 2, missing: '!' })).toBe('x：2，再说 x!。');
  });

  it('leaves a placeholder without a value as written, and a text without any as it is', () => {
    expect(t('zh', 'menu.enquiry')).toBe('{a}：{b}，再说 {a}{missing}。');
    expect(t('en', 'menu.enquiry')).toBe('Ask a question');
  });
});
