import { directChatId } from '../engine/direct-chat.ts';
import type { Reply } from '../engine/message.ts';
import {
  identitiesOf,
  type StaffAccount,
  staffWithRole,
  type TeamChat,
  teamChatsOf,
} from '../org/directory.ts';
import { enqueueMessage } from '../outbox/enqueue.ts';
import type { Work } from '../work.ts';
import type { CaseRow } from './open-case.ts';

// Each helper takes an optional dedup key so that a job run twice queues its messages once.
const keyed = (key: string | undefined, suffix: string) => (key ? `${key}:${suffix}` : undefined);

/** Posts to every group chat of a team (`chats`: the team's chats, when read already). */
export async function notifyTeam(
  w: Work,
  opts: { teamId: string; reply: Reply; dedupKey?: string; chats?: TeamChat[] },
): Promise<number> {
  const chats = opts.chats ?? (await teamChatsOf(w.tx, opts.teamId));
  for (const chat of chats)
    await enqueueMessage(w.tx, {
      channel: chat.channel,
      chatId: chat.chatId,
      reply: opts.reply,
      now: w.now,
      effects: w.effects,
      dedupKey: keyed(opts.dedupKey, `${chat.channel}:${chat.chatId}`),
    });
  return chats.length;
}

/**
 * Writes privately to a staff member on every channel they have an account on (`identities`:
 * their accounts, when read already).
 */
export async function notifyStaff(
  w: Work,
  opts: {
    staffId: string;
    reply: Reply;
    dedupKey?: string;
    identities?: StaffAccount[];
  },
): Promise<number> {
  const ids = opts.identities ?? (await identitiesOf(w.tx, opts.staffId));
  for (const id of ids)
    await enqueueMessage(w.tx, {
      channel: id.channel,
      chatId: directChatId(id.channel, id.externalUserId),
      reply: opts.reply,
      now: w.now,
      effects: w.effects,
      dedupKey: keyed(opts.dedupKey, `${id.channel}:${id.externalUserId}`),
    });
  return ids.length;
}

/** Writes privately to every manager. */
export async function notifyManagers(w: Work, opts: { reply: Reply; dedupKey?: string }): Promise<void> {
  for (const m of await staffWithRole(w.tx, 'manager'))
    await notifyStaff(w, { staffId: m.id, reply: opts.reply, dedupKey: keyed(opts.dedupKey, m.id) });
}

/** Tells the customer of a case, in the chat the case came from. */
export async function notifyCustomer(
  w: Work,
  opts: { caseRow: CaseRow; reply: Reply; dedupKey?: string },
): Promise<void> {
  await enqueueMessage(w.tx, {
    channel: opts.caseRow.channel as never,
    chatId: opts.caseRow.chatId,
    reply: opts.reply,
    now: w.now,
    effects: w.effects,
    dedupKey: opts.dedupKey,
  });
}
