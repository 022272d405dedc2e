import type { StaffRow } from '../org/directory.ts';
import { findStaffByIdentity } from '../org/directory.ts';
import { concurrently, exclusive } from './batch.ts';
import type { TextKey } from './catalogue.ts';
import type { Context } from './context.ts';
import { answer, ask, matchOffered, type Position, startFlow, stepBack } from './dialogue.ts';
import {
  clearDialogue,
  type DialogueKey,
  type DialogueRow,
  loadDialogue,
  lockDialogue,
  saveDialogue,
} from './dialogue-store.ts';
import type { Flow } from './flow.ts';
import type { Preloaded } from './handle-message.ts';
import { globalIntent, mentionsLeak, normalizeWords } from './intents.ts';
import type { Choice } from './message.ts';

/** An entry of the main menu. */
export interface MenuItem {
  id: string;
  label: TextKey;
  /** Typed words that pick this item without the menu. */
  keywords: string[];
  run(ctx: Context, key: DialogueKey): Promise<void>;
}

/** The service processes the router dispatches to; composed in `flows/registry.ts`. */
export interface Services {
  flows: Map<string, Flow>;
  menu: MenuItem[];
  /** 人工: hand the customer to a person. */
  handoff(ctx: Context, key: DialogueKey, from: Position | null): Promise<void>;
  /** A leak mentioned anywhere: safety first. */
  leak(ctx: Context, key: DialogueKey): Promise<void>;
  /** Free text outside a dialogue that names a service (没气了 → a repair report); true if taken. */
  detect(ctx: Context, key: DialogueKey, text: string): Promise<boolean>;
  /** A button that belongs to no dialogue step (a rating, a case link); true if taken. */
  customerAction(ctx: Context, key: DialogueKey, action: string): Promise<boolean>;
  /** Staff and manager commands; returns false when the message is not one. */
  staffCommand(ctx: Context, staff: StaffRow | null): Promise<boolean>;
  /** A message in a group chat (staff only). */
  group(ctx: Context, staff: StaffRow | null): Promise<void>;
}

const MENU_FLOW = 'menu';

/** Shows the main menu and remembers what it offered, so "1" picks the first item. */
export async function showMenu(
  ctx: Context,
  services: Services,
  key: DialogueKey,
  prefix?: TextKey,
): Promise<void> {
  const choices: Choice[] = services.menu.map((m) => ({ label: ctx.text(m.label), action: `m:${m.id}` }));
  const title = ctx.text('menu.title');
  ctx.say({ text: prefix ? `${ctx.text(prefix)}\n${title}` : title, choices });
  await saveDialogue(ctx.tx, key, {
    flow: MENU_FLOW,
    flowVersion: 1,
    step: MENU_FLOW,
    data: {},
    history: [],
    offered: choices,
    lang: ctx.lang,
    now: ctx.now,
  });
}

function positionOf(services: Services, row: DialogueRow | null): Position | 'stale' | null {
  if (!row || row.flow === MENU_FLOW) return null;
  const flow = services.flows.get(row.flow);
  if (!flow || flow.version !== row.flowVersion || !flow.steps[row.step]) return 'stale';
  return { flow, step: row.step, data: row.data, history: row.history };
}

/**
 * Handles one message in a private chat: staff commands, the leak words, the words that work
 * everywhere (取消 返回 人工 帮助 菜单), the current dialogue step, or the menu.
 */
export async function routePrivate(
  ctx: Context,
  services: Services,
  preloaded?: Pick<Preloaded, 'staff' | 'dialogue'>,
): Promise<void> {
  const { msg } = ctx;
  const key: DialogueKey = { channel: msg.channel, chatId: msg.chatId, userId: msg.sender.id };
  // The dialogue is read along with the sender's staff record (one round trip, or none when the
  // batch read both with the message); a staff command does not need it, and does not change it.
  const [staff, loaded] =
    preloaded?.dialogue !== undefined
      ? [preloaded.staff, preloaded.dialogue]
      : await concurrently<[StaffRow | null, DialogueRow | null]>(ctx.tx, [
          () => findStaffByIdentity(ctx.tx, msg.channel, msg.sender.id),
          async () => {
            await lockDialogue(ctx.tx, key);
            return loadDialogue(ctx.tx, key);
          },
        ]);
  // What touches shared rows (cases, codes, alarms) runs alone within a batch (see batch.ts).
  if (await exclusive(ctx, () => services.staffCommand(ctx, staff))) return;

  let row = loaded;
  const expiry = ctx.deps.policy.dialogue.idleExpiry;
  if (row && row.flow !== MENU_FLOW && ctx.now.getTime() - row.updatedAt.getTime() > spanMs(expiry)) {
    await clearDialogue(ctx.tx, key);
    row = null;
  }
  const pos = positionOf(services, row);
  if (pos === 'stale') {
    await clearDialogue(ctx.tx, key);
    return showMenu(ctx, services, key, 'dialogue.flowChanged');
  }

  const text = msg.text?.trim() ?? '';
  const hasAttachments = (msg.attachments?.length ?? 0) > 0;
  if (!text && !msg.action && !hasAttachments) {
    ctx.say(ctx.text('dialogue.empty'));
    return pos ? ask(ctx, key, pos) : showMenu(ctx, services, key);
  }
  const max = ctx.deps.policy.dialogue.maxTextLength;
  if ([...text].length > max) {
    ctx.say(ctx.text('dialogue.tooLong', { max }));
    return pos ? ask(ctx, key, pos) : showMenu(ctx, services, key);
  }
  // A leak mentioned anywhere jumps to the emergency path. While giving the leak's own details,
  // an answer with digits is taken as the address ("漏气，文三路 5 号"); without, as another alarm.
  if (mentionsLeak(text, ctx.deps.policy.leakWords) && (pos?.flow.id !== 'leak' || !/\d/.test(text)))
    return exclusive(ctx, () => services.leak(ctx, key));

  switch (globalIntent({ text, action: msg.action })) {
    case 'cancel':
      await clearDialogue(ctx.tx, key);
      return showMenu(ctx, services, key, 'dialogue.cancelled');
    case 'back':
      return pos ? stepBack(ctx, key, pos) : showMenu(ctx, services, key);
    case 'human':
      await clearDialogue(ctx.tx, key);
      return exclusive(ctx, () => services.handoff(ctx, key, pos));
    case 'help':
      ctx.say(ctx.text('help.text'));
      return pos ? ask(ctx, key, pos) : showMenu(ctx, services, key);
    case 'menu':
      await clearDialogue(ctx.tx, key);
      return showMenu(ctx, services, key);
    default:
  }

  // A menu button works wherever it is pressed: it starts that service afresh.
  const menuAction = msg.action?.startsWith('m:') ? msg.action : null;
  if (menuAction) return runMenuItem(ctx, services, key, menuAction.slice(2));
  if (
    msg.action &&
    !msg.action.startsWith('c:') &&
    (await exclusive(ctx, () => services.customerAction(ctx, key, msg.action!)))
  )
    return;
  if (pos) return answer(ctx, key, pos, row!);

  if (msg.action) {
    ctx.say(ctx.text('dialogue.staleButton'));
    return showMenu(ctx, services, key);
  }
  const picked = row ? matchOffered(row.offered, text) : null;
  if (picked) return runMenuItem(ctx, services, key, picked.action.slice(2));
  if (await services.detect(ctx, key, text)) return;
  const words = normalizeWords(text);
  const byKeyword = services.menu.find((m) => m.keywords.some((k) => words.includes(k)));
  if (byKeyword) return runMenuItem(ctx, services, key, byKeyword.id);
  return showMenu(ctx, services, key, 'menu.notUnderstood');
}

async function runMenuItem(ctx: Context, services: Services, key: DialogueKey, id: string): Promise<void> {
  const item = services.menu.find((m) => m.id === id);
  if (!item) {
    ctx.say(ctx.text('dialogue.staleButton'));
    return showMenu(ctx, services, key);
  }
  await clearDialogue(ctx.tx, key);
  await item.run(ctx, key);
}

/** Starts a registered flow by id; menu items use it. */
export function flowStarter(services: () => Services, flowId: string) {
  return (ctx: Context, key: DialogueKey) => startFlow(ctx, key, services().flows.get(flowId)!);
}

/** Length of a plain (calendar) duration in ms; dialogue timeouts are plain durations. */
export function spanMs(d: { amount: number; unit: string }): number {
  const unit =
    { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, wh: 3_600_000, wd: 86_400_000 }[d.unit] ?? 60_000;
  return d.amount * unit;
}

/**
 * A staff member's dialogue inside a group chat (e.g. the resolve questions after 完成): their
 * answers go to it, and 取消/返回 work as in private. Returns false when they have none.
 */
export async function continueGroupDialogue(ctx: Context, services: Services): Promise<boolean> {
  const { msg } = ctx;
  const key: DialogueKey = { channel: msg.channel, chatId: msg.chatId, userId: msg.sender.id };
  await lockDialogue(ctx.tx, key);
  const row = await loadDialogue(ctx.tx, key);
  const pos = positionOf(services, row);
  if (pos === null) return false;
  if (pos === 'stale') {
    await clearDialogue(ctx.tx, key);
    return false;
  }
  switch (globalIntent({ text: msg.text, action: msg.action })) {
    case 'cancel':
    case 'menu':
      await clearDialogue(ctx.tx, key);
      ctx.say(ctx.text('dialogue.cancelled'));
      return true;
    case 'back':
      await stepBack(ctx, key, pos);
      return true;
    default:
      await answer(ctx, key, pos, row!);
      return true;
  }
}
