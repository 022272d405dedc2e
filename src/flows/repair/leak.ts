import type { Context } from '../engine/context.ts';
import { clearDialogue, type DialogueKey } from '../engine/dialogue-store.ts';

/**
 * A leak mentioned anywhere: the safety script goes out before anything else (SPEC §1). The
 * emergency case and paging arrive with the fault-report process.
 */
export async function leakAlarm(ctx: Context, key: DialogueKey): Promise<void> {
  await clearDialogue(ctx.tx, key);
  ctx.say(ctx.text('leak.safety'));
}
