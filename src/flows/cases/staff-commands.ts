import type { Context } from '../engine/context.ts';
import { normalizeWords } from '../engine/intents.ts';
import type { StaffRow } from '../org/directory.ts';
import { findTeamByChat } from '../org/directory.ts';
import { startResolve } from '../repair/resolve-flow.ts';
import { arriveAtCase, askCustomer, explainDelay, noteCase, transferCase } from '../repair/staff-repair.ts';
import { overdueReport, parsePeriod, type StatsPeriod, statsReport } from '../stats/stats-report.ts';
import { authorize, closeCase, replyToCustomer, showCase, takeCase } from './staff-actions.ts';

type CaseVerb = 'take' | 'close' | 'show' | 'arrive' | 'resolve';
type TextVerb = 'reply' | 'note' | 'ask' | 'transfer' | 'reason';

export type StaffCommand =
  | { verb: CaseVerb; caseId: number }
  | { verb: TextVerb; caseId: number; text: string }
  | { verb: 'stats'; period: StatsPeriod }
  | { verb: 'overdue' | 'help' }
  /** Looked like a staff command but could not be read (a bad case number, an unknown button). */
  | { verb: 'invalid' };

const VERBS: Record<string, CaseVerb | TextVerb> = {
  接单: 'take',
  take: 'take',
  到达: 'arrive',
  arrive: 'arrive',
  arrived: 'arrive',
  完成: 'resolve',
  resolve: 'resolve',
  done: 'resolve',
  办结: 'close',
  close: 'close',
  工单: 'show',
  查看: 'show',
  case: 'show',
  回复: 'reply',
  reply: 'reply',
  备注: 'note',
  note: 'note',
  联系客户: 'ask',
  ask: 'ask',
  转派: 'transfer',
  transfer: 'transfer',
  原因: 'reason',
  reason: 'reason',
};
const TEXT_VERBS = new Set<string>(['reply', 'note', 'ask', 'transfer', 'reason']);

/** Reads a staff command from a button payload (`case:100023:take`) or typed text (`接单 100023`). */
export function parseStaffCommand(input: { text?: string; action?: string }): StaffCommand | null {
  if (input.action?.startsWith('case:')) {
    const m = /^case:(\d{1,10}):(take|close|show|arrive|resolve)$/.exec(input.action);
    return m ? { verb: m[2] as CaseVerb, caseId: Number(m[1]) } : { verb: 'invalid' };
  }
  if (!input.text) return null;
  const text = normalizeWords(input.text).replace(/^\//, '');
  const stats = /^(统计|stats)(?:\s+(\S+))?$/.exec(text);
  if (stats) {
    const period = parsePeriod(stats[2]);
    return period ? { verb: 'stats', period } : { verb: 'invalid' };
  }
  if (/^(超时|超时工单|overdue)$/.test(text)) return { verb: 'overdue' };
  if (/^(班组帮助|命令|commands|staffhelp)$/.test(text)) return { verb: 'help' };
  const m = /^(\S+?)\s*#?(\d{1,10})?(?:\s+([\s\S]*))?$/.exec(text);
  const verb = m ? VERBS[m[1]!] : undefined;
  if (!m || !verb) return null;
  if (!m[2]) return { verb: 'invalid' };
  const caseId = Number(m[2]);
  if (TEXT_VERBS.has(verb)) {
    // Keep the original casing and spacing of the text.
    const original = input.text.trim().replace(/^\/?\S+?\s*#?\d+\s*/, '');
    return { verb: verb as TextVerb, caseId, text: original.trim() };
  }
  return { verb: verb as CaseVerb, caseId };
}

async function run(ctx: Context, staff: StaffRow | null, cmd: StaffCommand): Promise<void> {
  switch (cmd.verb) {
    case 'take':
      return takeCase(ctx, staff, cmd.caseId);
    case 'close':
      return closeCase(ctx, staff, cmd.caseId);
    case 'show':
      return showCase(ctx, staff, cmd.caseId);
    case 'reply':
      return replyToCustomer(ctx, staff, cmd.caseId, cmd.text);
    case 'arrive':
      return arriveAtCase(ctx, staff, cmd.caseId);
    case 'resolve': {
      const caseRow = await authorize(ctx, staff, cmd.caseId, 'resolve');
      return caseRow && staff ? startResolve(ctx, staff, caseRow) : undefined;
    }
    case 'note':
      return noteCase(ctx, staff, cmd.caseId, cmd.text);
    case 'ask':
      return askCustomer(ctx, staff, cmd.caseId, cmd.text);
    case 'transfer':
      return transferCase(ctx, staff, cmd.caseId, cmd.text);
    case 'reason':
      return explainDelay(ctx, staff, cmd.caseId, cmd.text);
    case 'stats':
      if (!staff?.roles.includes('manager')) return ctx.say(ctx.text('manager.only'));
      return ctx.say(await statsReport(ctx, { period: cmd.period, lang: ctx.lang }));
    case 'overdue':
      if (!staff?.roles.includes('manager')) return ctx.say(ctx.text('manager.only'));
      return ctx.say(await overdueReport(ctx, { lang: ctx.lang }));
    case 'help':
      return ctx.say(ctx.text('staff.usage'));
    case 'invalid':
      return ctx.say(`${ctx.text('staff.unknownCommand')}\n${ctx.text('staff.usage')}`);
  }
}

/**
 * Staff and manager commands in a private chat. Customers never see staff verbs, except that a
 * customer pressing a case button or asking for stats gets a clear refusal.
 */
export async function privateStaffCommand(ctx: Context, staff: StaffRow | null): Promise<boolean> {
  const cmd = parseStaffCommand({ text: ctx.msg.text, action: ctx.msg.action });
  if (!cmd) return false;
  if (!staff) {
    if (cmd.verb === 'stats' || cmd.verb === 'overdue') {
      ctx.say(ctx.text('manager.only'));
      return true;
    }
    // A case button pressed by someone who is not staff: refused and audited. Typed verbs like
    // "工单 100023" from a customer stay with the customer's own dialogue.
    if (!ctx.msg.action?.startsWith('case:')) return false;
    if ('caseId' in cmd) await showCase(ctx, null, cmd.caseId);
    else ctx.say(ctx.text('dialogue.staleButton'));
    return true;
  }
  await run(ctx, staff, cmd);
  return true;
}

/**
 * A message in a group chat. Only commands and buttons get an answer: staff talk among
 * themselves in their group and the bot stays quiet.
 */
export async function groupMessage(ctx: Context, staff: StaffRow | null): Promise<void> {
  const cmd = parseStaffCommand({ text: ctx.msg.text, action: ctx.msg.action });
  const team = await findTeamByChat(ctx.tx, ctx.msg.channel, ctx.msg.chatId);
  if (!cmd) {
    if (ctx.msg.text?.trim().startsWith('/')) ctx.say(ctx.text(team ? 'staff.usage' : 'staff.unboundGroup'));
    return;
  }
  if (!team && cmd.verb !== 'stats' && cmd.verb !== 'overdue') return ctx.say(ctx.text('staff.unboundGroup'));
  await run(ctx, staff, cmd);
}
