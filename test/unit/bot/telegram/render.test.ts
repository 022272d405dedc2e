import { describe, expect, it } from 'vitest';
import {
  displayWidth,
  inlineKeyboard,
  layoutButtons,
  renderReply,
  splitText,
  TEXT_LIMIT,
  truncateText,
} from '../../../../src/bot/telegram/render.ts';

const choice = (label: string, action = label) => ({ label, action });

describe('buttons', () => {
  it('short choices two to a row, long ones alone, quick buttons in a last row', () => {
    const rows = layoutButtons({
      choices: [choice('5 非常满意'), choice('4 满意'), choice('燃气泄漏/闻到燃气味'), choice('其他')],
      quick: [choice('返回', 'g:back'), choice('取消', 'g:cancel')],
    });
    expect(rows.map((r) => r.map((c) => c.label))).toEqual([
      ['5 非常满意', '4 满意'],
      ['燃气泄漏/闻到燃气味'],
      ['其他'],
      ['返回', '取消'],
    ]);
    expect(displayWidth('燃气')).toBe(4);
    expect(displayWidth('ab')).toBe(2);
  });

  it('no buttons, no rows', () => {
    expect(layoutButtons({})).toEqual([]);
  });

  it('every button carries the encoded action', () => {
    const kb = inlineKeyboard([[choice('接单', 'case:1:take')]], (a) => `${a}|sig`);
    expect(kb).toEqual({ inline_keyboard: [[{ text: '接单', callback_data: 'case:1:take|sig' }]] });
  });
});

describe('text limits', () => {
  it('a long text splits at line breaks into parts of at most 4096', () => {
    const line = `${'气'.repeat(99)}\n`;
    const text = line.repeat(100); // 10 000 units
    const parts = splitText(text);
    expect(parts.length).toBe(3);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(TEXT_LIMIT);
    expect(parts.join('\n').trimEnd()).toBe(text.trimEnd());
  });

  it('never splits inside a surrogate pair', () => {
    const text = `${'a'.repeat(4095)}😀${'b'.repeat(10)}`;
    const parts = splitText(text);
    expect(parts[0]).toBe('a'.repeat(4095));
    expect(parts[1]!.startsWith('😀')).toBe(true);
    const cut = truncateText(`${'a'.repeat(4094)}😀😀`);
    expect(cut.length).toBeLessThanOrEqual(TEXT_LIMIT);
    expect(cut.endsWith('a…')).toBe(true);
  });

  it('a case card stays one message (truncated), other replies split', () => {
    const long = 'x'.repeat(5000);
    expect(renderReply({ text: long, card: { title: 't', lines: [] }, caseId: 1 }).parts).toHaveLength(1);
    expect(renderReply({ text: long }).parts).toHaveLength(2);
    expect(renderReply({ text: '  ' }).parts).toEqual(['·']);
  });
});
