import { followMovedGroup } from '../org/binding.ts';
import { findStaffByIdentity, type StaffRow } from '../org/directory.ts';
import { enqueueMessage } from '../outbox/enqueue.ts';
import type { Work } from '../work.ts';
import { exclusive } from './batch.ts';
import { createContext, type KnownCustomer } from './context.ts';
import type { DialogueRow } from './dialogue-store.ts';
import type { InboundMessage } from './message.ts';
import { routePrivate, type Services } from './router.ts';

/**
 * What a batch read for a message along with storing it (see receiveBatch): the sender's staff
 * record and, in a private chat, the dialogue and the sender's customer record. Read after the
 * dialogue was locked, so they are what the handler would have read itself.
 */
export interface Preloaded {
  staff: StaffRow | null;
  dialogue?: DialogueRow | null;
  customer?: KnownCustomer | null;
}

/**
 * Handles one stored inbound message inside the caller's transaction: group chats go to the
 * staff side, private chats to the dialogue router; the replies join the outbox in order.
 */
export async function handleMessage(
  w: Work,
  services: Services,
  msg: InboundMessage,
  preloaded?: Preloaded,
): Promise<void> {
  const moved = msg.chatMoved;
  if (moved) {
    // A notice from the channel, not a person's message: nothing to answer.
    if (msg.chatKind === 'group')
      await exclusive({ tx: w.tx, msg }, () => followMovedGroup(w, msg.channel, moved));
    return;
  }
  const ctx = createContext(w, msg, msg.sender.lang ?? 'zh', preloaded?.customer);
  if (msg.chatKind === 'group') {
    const staff = preloaded ? preloaded.staff : await findStaffByIdentity(w.tx, msg.channel, msg.sender.id);
    // Staff act on shared cases: one at a time within a batch.
    await exclusive(ctx, () => services.group(ctx, staff));
  } else {
    await routePrivate(ctx, services, preloaded);
  }
  for (const reply of ctx.replies)
    await enqueueMessage(w.tx, {
      channel: msg.channel,
      chatId: msg.chatId,
      reply,
      now: w.now,
      effects: w.effects,
    });
}
