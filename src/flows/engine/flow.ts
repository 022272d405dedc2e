import type { TextKey, TextParams } from './catalogue.ts';
import type { Context } from './context.ts';
import type { Attachment } from './message.ts';

/** What the customer answered: a choice's value, free text, or attachments. */
export interface StepInput {
  text?: string;
  choice?: string;
  attachments: Attachment[];
}

/** A question: its text and, for a choice step, the options (value + label). */
export interface Prompt {
  text: string;
  options?: { value: string; label: string }[];
}

export type StepOutcome<D> =
  | { next: string; data: D }
  | { done: true; data: D }
  | { retry: TextKey; params?: TextParams }
  /** Back to the first step with fresh data ("start over"). */
  | { restart: true }
  /** The step took over (started another flow, or ended with its own answer). */
  | { handled: true };

/** One step of a dialogue: what to ask, and what to make of the answer. */
export interface Step<D> {
  /**
   * `choice` steps accept only their options; `text` steps accept free text (or one of their
   * options, when they offer some); `media` steps accept attachments or one of their options.
   */
  expects: 'choice' | 'text' | 'media';
  ask(ctx: Context, data: D): Prompt | Promise<Prompt>;
  answer(ctx: Context, data: D, input: StepInput): StepOutcome<D> | Promise<StepOutcome<D>>;
}

/**
 * A dialogue: data plus small steps. `version` pins saved state to the definition it was made
 * with; bump it when steps or data change shape, and stale dialogues restart cleanly.
 */
export interface Flow<D extends Record<string, unknown> = Record<string, unknown>> {
  id: string;
  version: number;
  start: string;
  initial(): D;
  steps: Record<string, Step<D>>;
  /** Runs when the last step is answered: open the case, say what happens next. */
  complete(ctx: Context, data: D): Promise<void>;
  /**
   * Set when `complete` reads rows that others change and writes on what it read (an open case
   * staff are acting on): within a batch it then runs alone (see batch.ts).
   */
  exclusive?: boolean;
}

/** Declares a flow with its data type checked against its steps. */
export function defineFlow<D extends Record<string, unknown>>(flow: Flow<D>): Flow<D> {
  return flow;
}
