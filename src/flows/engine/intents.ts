import { toHalfWidth } from '../validate/phone.ts';

/** What a customer can say at any step, in any flow. */
export type GlobalIntent = 'cancel' | 'back' | 'human' | 'help' | 'menu';

const WORDS: Record<GlobalIntent, string[]> = {
  cancel: ['取消', '退出', '不办了', '结束', 'cancel', '/cancel', 'quit', 'stop'],
  back: ['返回', '上一步', '后退', 'back', '/back'],
  human: ['人工', '转人工', '人工客服', '找人工', '客服', 'human', 'agent', 'operator', '/human'],
  help: ['帮助', '?', '？', 'help', '/help'],
  menu: ['菜单', '主菜单', '首页', '开始', 'menu', '/menu', '/start', 'start', 'hi', 'hello', '你好', '您好'],
};

const LOOKUP = new Map<string, GlobalIntent>(
  Object.entries(WORDS).flatMap(([intent, words]) => words.map((w) => [w, intent as GlobalIntent] as const)),
);

/** Normalises typed text for matching: half-width, trimmed, lower-case, no trailing punctuation. */
export function normalizeWords(text: string): string {
  return toHalfWidth(text)
    .trim()
    .toLowerCase()
    .replace(/[。.!！~～]+$/u, '')
    .trim();
}

/** The global intent of a typed text or a global button (`g:cancel`), if it is one. */
export function globalIntent(input: { text?: string; action?: string }): GlobalIntent | null {
  if (input.action?.startsWith('g:')) {
    const name = input.action.slice(2);
    return name in WORDS ? (name as GlobalIntent) : null;
  }
  if (!input.text) return null;
  return LOOKUP.get(normalizeWords(input.text)) ?? null;
}

/** Whether a text mentions a gas leak, by the policy's words. */
export function mentionsLeak(text: string | undefined, leakWords: string[]): boolean {
  if (!text) return false;
  const normalized = normalizeWords(text).replace(/\s+/g, ' ');
  return leakWords.some((w) => normalized.includes(w.toLowerCase()));
}
