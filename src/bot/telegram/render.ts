import type { Choice, Reply } from '../../flows/engine/message.ts';

/** Telegram's limit on a message's text (UTF-16 code units are counted here, which is never more lenient). */
export const TEXT_LIMIT = 4096;
/** Telegram allows at most 100 buttons on one message. */
const MAX_BUTTONS = 100;
/** Two buttons share a row when both labels are at most this wide (a CJK character counts 2). */
const PAIR_WIDTH = 16;

export interface InlineButton {
  text: string;
  callback_data: string;
}
export interface InlineKeyboard {
  inline_keyboard: InlineButton[][];
}

/** How wide a label looks: CJK and other wide characters count 2. */
export function displayWidth(label: string): number {
  let width = 0;
  for (const ch of label)
    width +=
      /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]|[\u{1f000}-\u{1faff}]/u.test(
        ch,
      )
        ? 2
        : 1;
  return width;
}

/**
 * Button rows for a reply: the choices one or two per row (two when both labels are short),
 * then the quick buttons (back, cancel) together in a last row.
 */
export function layoutButtons(reply: Pick<Reply, 'choices' | 'quick'>): Choice[][] {
  const choices = (reply.choices ?? []).slice(0, MAX_BUTTONS);
  const quick = (reply.quick ?? []).slice(0, Math.max(0, MAX_BUTTONS - choices.length));
  const rows: Choice[][] = [];
  let open: Choice[] | null = null;
  for (const c of choices) {
    const short = displayWidth(c.label) <= PAIR_WIDTH;
    if (open && short) {
      open.push(c);
      open = null;
      continue;
    }
    const row = [c];
    rows.push(row);
    open = short ? row : null;
  }
  // Quick buttons share one row, at most four to a row.
  for (let i = 0; i < quick.length; i += 4) rows.push(quick.slice(i, i + 4));
  return rows;
}

/** Signs every button (see callback-data.ts); `encode` gives the callback_data of an action. */
export function inlineKeyboard(rows: Choice[][], encode: (action: string) => string): InlineKeyboard {
  return {
    inline_keyboard: rows.map((row) =>
      row.map((c) => ({ text: truncateText(c.label.trim() || '·', 64), callback_data: encode(c.action) })),
    ),
  };
}

/** Cuts at a code-point boundary, never inside a surrogate pair, ending with `…` when cut. */
export function truncateText(text: string, max = TEXT_LIMIT): string {
  if (text.length <= max) return text;
  let end = max - 1;
  if (isHighSurrogate(text.charCodeAt(end - 1))) end--;
  return `${text.slice(0, end)}…`;
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

/**
 * Splits a long text into messages of at most `max` units: at a line break when there is one in
 * the last quarter of the window, else at a space, else anywhere but inside a surrogate pair.
 */
export function splitText(text: string, max = TEXT_LIMIT): string[] {
  const parts: string[] = [];
  let rest = text;
  while (rest.length > max) {
    const window = rest.slice(0, max);
    const floor = Math.floor(max * 0.75);
    let cut = window.lastIndexOf('\n');
    if (cut < floor) cut = window.lastIndexOf(' ');
    if (cut < floor) {
      cut = max;
      if (isHighSurrogate(rest.charCodeAt(cut - 1))) cut--;
    }
    parts.push(rest.slice(0, cut).trimEnd() || rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^[\n ]/, '');
  }
  if (rest.length > 0 || parts.length === 0) parts.push(rest);
  return parts;
}

export interface RenderedReply {
  /** The message texts in order; the buttons go on the last. A case card is always one message. */
  parts: string[];
  rows: Choice[][];
}

/** A reply as Telegram messages: plain text (no parse mode, nothing to escape) and button rows. */
export function renderReply(reply: Reply): RenderedReply {
  const text = reply.text.trim() ? reply.text : '·';
  return {
    parts: reply.card ? [truncateText(text)] : splitText(text),
    rows: layoutButtons(reply),
  };
}
