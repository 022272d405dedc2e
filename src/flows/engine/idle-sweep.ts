import { and, isNull, lt, ne, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { dialogues } from '../../db/schema/index.ts';
import type { FlowDeps } from '../deps.ts';
import { enqueueMessage } from '../outbox/enqueue.ts';
import { type Effects, emptyEffects } from './effects.ts';
import type { Channel, Lang } from './message.ts';
import { spanMs } from './router.ts';

/**
 * Reminds customers who went quiet in the middle of a dialogue, then ends the dialogue when the
 * idle time runs out. Safe to run twice: each reminder and each expiry is a row change that
 * happens once (the dedup key covers a repeated run over the same idle spell).
 */
export async function sweepIdleDialogues(
  db: Db,
  deps: FlowDeps,
): Promise<{ reminded: number; expired: number; effects: Effects }> {
  const effects = emptyEffects();
  const now = deps.clock.now();
  const { idleReminder, idleExpiry } = deps.policy.dialogue;
  const remindBefore = new Date(now.getTime() - spanMs(idleReminder));
  const expireBefore = new Date(now.getTime() - spanMs(idleExpiry));
  const text = (lang: string, key: 'dialogue.idleReminder' | 'dialogue.expired') =>
    deps.t(lang === 'en' ? 'en' : 'zh', key, { hotline: deps.policy.company.hotline });

  const result = await db.transaction(async (tx) => {
    const expired = await tx
      .delete(dialogues)
      .where(and(ne(dialogues.flow, 'menu'), lt(dialogues.updatedAt, expireBefore)))
      .returning();
    for (const d of expired)
      await enqueueMessage(tx, {
        channel: d.channel as Channel,
        chatId: d.chatId,
        reply: { text: text(d.lang, 'dialogue.expired') },
        now,
        effects,
        dedupKey: `idle-expired:${d.channel}:${d.chatId}:${d.userId}:${d.updatedAt.getTime()}`,
      });
    // The menu is not a dialogue in progress: it just expires quietly.
    await tx
      .delete(dialogues)
      .where(and(sql`${dialogues.flow} = 'menu'`, lt(dialogues.updatedAt, expireBefore)));
    const reminded = await tx
      .update(dialogues)
      .set({ remindedAt: now })
      .where(
        and(ne(dialogues.flow, 'menu'), isNull(dialogues.remindedAt), lt(dialogues.updatedAt, remindBefore)),
      )
      .returning();
    for (const d of reminded)
      await enqueueMessage(tx, {
        channel: d.channel as Channel,
        chatId: d.chatId,
        reply: { text: text(d.lang as Lang, 'dialogue.idleReminder') },
        now,
        effects,
        dedupKey: `idle-reminder:${d.channel}:${d.chatId}:${d.userId}:${d.updatedAt.getTime()}`,
      });
    return { reminded: reminded.length, expired: expired.length };
  });
  return { ...result, effects };
}
