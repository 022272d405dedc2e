import type { Reply } from '../../../flows/engine/message.ts';
import { renderPlainText } from '../../../flows/engine/render-text.ts';

/** The word staff type for a case button (see parseStaffCommand). */
const CASE_VERB_WORDS: Record<string, string> = {
  take: '接单',
  arrive: '到达',
  resolve: '完成',
  close: '办结',
  show: '工单',
};

/**
 * A reply as WeChat text. Dialogue choices become numbered lines (renderPlainText). Case
 * buttons (`case:<no>:<verb>`) cannot be pressed and a number does not reach them, so a card
 * says what to type instead: 回复「接单 100023」.
 */
export function renderForWechaty(reply: Reply): string {
  const choices = reply.choices ?? [];
  const commands = choices.map((c) => {
    const m = /^case:(\d+):(\w+)$/.exec(c.action);
    const word = m ? CASE_VERB_WORDS[m[2]!] : undefined;
    return word ? `${word} ${m![1]}` : null;
  });
  if (choices.length === 0 || commands.some((c) => c === null)) return renderPlainText(reply);
  const hint = `回复${commands.map((c) => `「${c}」`).join('或')}`;
  return `${renderPlainText({ ...reply, choices: [] })}\n\n${hint}`;
}
