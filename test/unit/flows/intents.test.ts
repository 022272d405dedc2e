import { describe, expect, it } from 'vitest';
import { parseStaffCommand } from '../../../src/flows/cases/staff-commands.ts';
import { globalIntent, mentionsLeak } from '../../../src/flows/engine/intents.ts';

describe('words that work everywhere', () => {
  it.each([
    ['取消', 'cancel'],
    [' 取消。', 'cancel'],
    ['Cancel', 'cancel'],
    ['返回', 'back'],
    ['转人工', 'human'],
    ['人工客服', 'human'],
    ['帮助', 'help'],
    ['？', 'help'],
    ['菜单', 'menu'],
    ['/start', 'menu'],
  ])('%j means %s', (text, intent) => {
    expect(globalIntent({ text })).toBe(intent);
  });

  it('buttons carry them as g:<intent>; anything else is not one', () => {
    expect(globalIntent({ action: 'g:back' })).toBe('back');
    expect(globalIntent({ action: 'g:explode' })).toBeNull();
    expect(globalIntent({ text: '我想取消预约' })).toBeNull();
  });

  it('spots leak words inside a sentence, in any case', () => {
    const words = ['漏气', '煤气味', 'gas leak'];
    expect(mentionsLeak('厨房好像漏气了', words)).toBe(true);
    expect(mentionsLeak('I think there is a GAS LEAK', words)).toBe(true);
    expect(mentionsLeak('燃气费太贵', words)).toBe(false);
  });
});

describe('staff commands', () => {
  it.each([
    ['接单 100023', { verb: 'take', caseId: 100023 }],
    ['/take 100023', { verb: 'take', caseId: 100023 }],
    ['接单#100023', { verb: 'take', caseId: 100023 }],
    ['办结 100023', { verb: 'close', caseId: 100023 }],
    ['回复 100023 明天上午上门', { verb: 'reply', caseId: 100023, text: '明天上午上门' }],
    ['Reply 100023 Tomorrow AM', { verb: 'reply', caseId: 100023, text: 'Tomorrow AM' }],
    ['统计', { verb: 'stats', period: 'today' }],
    ['/stats', { verb: 'stats', period: 'today' }],
    ['统计 本周', { verb: 'stats', period: 'week' }],
    ['/stats month', { verb: 'stats', period: 'month' }],
    ['统计 明年', { verb: 'invalid' }],
    ['/overdue', { verb: 'overdue' }],
    ['到达 100023', { verb: 'arrive', caseId: 100023 }],
    ['转派 100023 表具班', { verb: 'transfer', caseId: 100023, text: '表具班' }],
    ['联系客户 100023 家里有人吗？', { verb: 'ask', caseId: 100023, text: '家里有人吗？' }],
    ['接单', { verb: 'invalid' }],
    ['今天谁值班', null],
  ])('%j', (text, expected) => {
    expect(parseStaffCommand({ text })).toEqual(expected);
  });

  it('reads case buttons and rejects forged shapes', () => {
    expect(parseStaffCommand({ action: 'case:100023:take' })).toEqual({ verb: 'take', caseId: 100023 });
    expect(parseStaffCommand({ action: 'case:100023:delete' })).toEqual({ verb: 'invalid' });
    expect(parseStaffCommand({ action: 'case:1 or 1=1:take' })).toEqual({ verb: 'invalid' });
  });
});
