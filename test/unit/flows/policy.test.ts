import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createTranslator } from '../../../src/flows/engine/catalogue.ts';
import { demoPolicyFile, loadPolicy, PolicyError, parsePolicy } from '../../../src/flows/policy/load.ts';

const demo = readFileSync(demoPolicyFile, 'utf8');

describe('the policy file', () => {
  it('the demo company carries the SPEC defaults', async () => {
    const p = await loadPolicy(undefined);
    expect(p.deadlines.default).toMatchObject({ amount: 3, unit: 'wd' });
    expect(p.deadlines.repair.confirm).toMatchObject({ amount: 2, unit: 'h' });
    expect(p.deadlines.repair.handle).toMatchObject({ amount: 6, unit: 'h' });
    expect(p.deadlines.repair.repair).toMatchObject({ amount: 24, unit: 'h' });
    expect(p.deadlines.repair.ackP0).toMatchObject({ amount: 5, unit: 'm' });
    expect(p.deadlines.complaint.reply).toMatchObject({ amount: 3, unit: 'wd' });
    expect(p.deadlines.complaint.resolve).toMatchObject({ amount: 7, unit: 'wd' });
    expect(p.deadlines.appointment.answer).toMatchObject({ amount: 1, unit: 'wd' });
    expect(p.teams[0]).toMatchObject({ id: 'repair', name: '抢修维修班', chats: { web: 'group-repair' } });
    expect(p.staff.map((s) => s.id)).toEqual(['wang', 'li', 'zhao']);
  });

  it('a bad duration is reported with the field that holds it', () => {
    const bad = demo.replace('default: 3wd', 'default: three days');
    expect(() => parsePolicy(bad, 'p.yaml')).toThrow(
      new PolicyError('p.yaml: deadlines.default: expected a duration like 30m, 2h, 3wd'),
    );
  });

  it('a roster naming an unknown staff member is refused', () => {
    const bad = demo.replace('staff: [wang, li], days', 'staff: [wang, ghost], days');
    expect(() => parsePolicy(bad)).toThrow(/roster\.0\.staff: unknown staff ghost/);
  });

  it('broken YAML is reported in one line', () => {
    expect(() => parsePolicy('company: [unclosed', 'x.yaml')).toThrow(/^x\.yaml: not valid YAML\/JSON: /);
  });

  it('a missing file names POLICY_FILE', async () => {
    await expect(loadPolicy('/nonexistent/policy.yaml')).rejects.toThrow(
      'POLICY_FILE /nonexistent/policy.yaml: ENOENT',
    );
  });

  it('company texts override the catalogue, per language', () => {
    const t = createTranslator({ zh: { 'menu.enquiry': '我要咨询' } });
    expect(t('zh', 'menu.enquiry')).toBe('我要咨询');
    expect(t('en', 'menu.enquiry')).toBe('Ask a question');
    expect(t('zh', 'human.opened', { caseNo: 7 })).toContain('工单号 7');
  });
});
