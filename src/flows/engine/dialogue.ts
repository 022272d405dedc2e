import { exclusive } from './batch.ts';
import type { Context } from './context.ts';
import { clearDialogue, type DialogueKey, type DialogueRow, saveDialogue } from './dialogue-store.ts';
import type { Flow, StepInput } from './flow.ts';
import { normalizeWords } from './intents.ts';
import type { Choice } from './message.ts';

/** Where a user stands in a flow, as loaded from (and saved back to) the dialogues table. */
export interface Position {
  flow: Flow;
  step: string;
  data: Record<string, unknown>;
  history: string[];
}

export const choiceAction = (flowId: string, step: string, value: string) => `c:${flowId}:${step}:${value}`;

/** Asks the current step's question and saves the position with the choices offered. */
export async function ask(ctx: Context, key: DialogueKey, pos: Position): Promise<void> {
  const step = pos.flow.steps[pos.step]!;
  const prompt = await step.ask(ctx, pos.data);
  const choices: Choice[] = (prompt.options ?? []).map((o) => ({
    label: o.label,
    action: choiceAction(pos.flow.id, pos.step, o.value),
  }));
  const quick: Choice[] = [];
  if (pos.history.length > 0) quick.push({ label: ctx.text('choice.back'), action: 'g:back' });
  quick.push({ label: ctx.text('choice.cancel'), action: 'g:cancel' });
  ctx.say({ text: prompt.text, choices, quick });
  await saveDialogue(ctx.tx, key, {
    flow: pos.flow.id,
    flowVersion: pos.flow.version,
    step: pos.step,
    data: pos.data,
    history: pos.history,
    offered: choices,
    lang: ctx.lang,
    now: ctx.now,
  });
}

/** Starts a flow at its first step, or at a later one with some answers already known. */
export async function startFlow(
  ctx: Context,
  key: DialogueKey,
  flow: Flow,
  from?: { step: string; data: Record<string, unknown>; history: string[] },
): Promise<void> {
  await ask(ctx, key, {
    flow,
    step: from?.step ?? flow.start,
    data: from?.data ?? flow.initial(),
    history: from?.history ?? [],
  });
}

/** Goes one step back, or says this is the first step. */
export async function stepBack(ctx: Context, key: DialogueKey, pos: Position): Promise<void> {
  const previous = pos.history.at(-1);
  if (previous === undefined) {
    ctx.say(ctx.text('dialogue.backAtStart'));
    return ask(ctx, key, pos);
  }
  await ask(ctx, key, { flow: pos.flow, data: pos.data, step: previous, history: pos.history.slice(0, -1) });
}

/** Matches typed text against the offered choices: by number ("2", "２") or by label. */
export function matchOffered(offered: Choice[], text: string | undefined): Choice | null {
  if (!text) return null;
  const t = normalizeWords(text);
  const n = /^\d{1,2}$/.test(t) ? Number(t) : Number.NaN;
  if (n >= 1 && n <= offered.length) return offered[n - 1]!;
  return offered.find((c) => c.label.toLowerCase() === t) ?? null;
}

/**
 * Feeds an answer to the current step and moves on: next step, retry with a reason, start over,
 * or completion (the flow's `complete` opens the case).
 */
export async function answer(ctx: Context, key: DialogueKey, pos: Position, row: DialogueRow): Promise<void> {
  const step = pos.flow.steps[pos.step]!;
  const input: StepInput = {
    text: ctx.msg.text?.trim() || undefined,
    attachments: ctx.msg.attachments ?? [],
  };
  const action = ctx.msg.action;
  const prefix = choiceAction(pos.flow.id, pos.step, '');
  if (action) {
    if (!action.startsWith(prefix)) {
      ctx.say(ctx.text('dialogue.staleButton'));
      return ask(ctx, key, pos);
    }
    input.choice = action.slice(prefix.length);
  } else {
    // A number or an option's label answers on text-only channels, on any step that offers options.
    const picked = matchOffered(row.offered, input.text);
    if (picked) input.choice = picked.action.slice(prefix.length);
  }
  if (step.expects === 'choice' && input.choice === undefined) {
    ctx.say(ctx.text(input.text ? 'dialogue.chooseOne' : 'dialogue.textExpected'));
    return ask(ctx, key, pos);
  }
  if (step.expects === 'media' && input.choice === undefined && input.attachments.length === 0) {
    ctx.say(ctx.text('dialogue.chooseOne'));
    return ask(ctx, key, pos);
  }
  if (step.expects === 'text' && !input.text && input.choice === undefined) {
    // A location shared where an address is asked counts as text (its label).
    const place = input.attachments.find((a) => a.kind === 'location' && a.label);
    if (place) input.text = place.label;
    else {
      ctx.say(ctx.text('dialogue.textExpected'));
      return ask(ctx, key, pos);
    }
  }
  const outcome = await step.answer(ctx, pos.data, input);
  if ('retry' in outcome) {
    ctx.say(ctx.text(outcome.retry, outcome.params));
    return ask(ctx, key, pos);
  }
  if ('restart' in outcome) return startFlow(ctx, key, pos.flow);
  if ('handled' in outcome) return;
  if ('done' in outcome) {
    await clearDialogue(ctx.tx, key);
    const complete = () => pos.flow.complete(ctx, outcome.data);
    return pos.flow.exclusive ? exclusive(ctx, complete) : complete();
  }
  await ask(ctx, key, {
    flow: pos.flow,
    step: outcome.next,
    data: outcome.data,
    history: [...pos.history, pos.step],
  });
}
