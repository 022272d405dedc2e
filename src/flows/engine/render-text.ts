import type { Reply } from './message.ts';

/**
 * A reply as plain text for channels without buttons (WeChat): the choices become numbered
 * lines (the flows accept the number or the label), the navigation buttons a one-line hint.
 */
export function renderPlainText(reply: Reply): string {
  const parts = [reply.text];
  const choices = reply.choices ?? [];
  if (choices.length > 0) parts.push(choices.map((c, i) => `${i + 1}. ${c.label}`).join('\n'));
  const quick = reply.quick ?? [];
  if (quick.length > 0) parts.push(`（${quick.map((q) => q.label).join(' / ')}）`);
  return parts.join('\n\n');
}
