import { and, eq } from 'drizzle-orm';
import type { Contact, Room, Wechaty } from 'wechaty';
import type { Db } from '../../../db/client.ts';
import { staffIdentities } from '../../../db/schema/index.ts';
import { inJson } from '../../../flows/engine/batch.ts';
import { describeError, type Logger } from '../../../log.ts';
import { type ChannelSender, type OutboundDelivery, SendError } from '../../../workers/senders.ts';
import { renderForWechaty } from './render.ts';

/** How long a message waits while the account is logged out or still loading. */
export const OFFLINE_RETRY_MS = 30_000;

/** WeChat room ids end in "@chatroom"; WeCom puppets' room ids start with "R:". */
export const looksLikeRoom = (id: string) => /@chatroom$/.test(id) || /^R:/.test(id);

/** Logged in, and the puppet has loaded its contacts and rooms (its `ready`). */
export function wechatyOnline(bot: Wechaty): boolean {
  try {
    const puppet = bot.puppet; // throws before the bot is initialised
    return puppet.isLoggedIn && puppet.readyIndicator.value();
  } catch {
    return false;
  }
}

/**
 * Delivers outbox rows of channel 'wechaty'. The chat id is a room id (a staff group) or a
 * contact id (a 1:1 chat). On a card in a room the staff in `reply.mentions` are @mentioned
 * (their wechaty contact ids come from staff_identities). Offline or not ready: retried later,
 * never dropped; an unknown room or contact (the bot was removed, the customer deleted it):
 * permanent. Sends go out one at a time, `minIntervalMs` apart, as a person would send them.
 */
export function createWechatySender(opts: {
  bot: Wechaty;
  db: Db;
  log: Logger;
  /** Defaults to `wechatyOnline(bot)`. */
  isOnline?: () => boolean;
  minIntervalMs?: number;
}): ChannelSender {
  const { bot, db, log } = opts;
  const isOnline = opts.isOnline ?? (() => wechatyOnline(bot));
  const minIntervalMs = opts.minIntervalMs ?? 300;
  let queue: Promise<unknown> = Promise.resolve();
  let lastSentAt = 0;

  const offline = () =>
    new SendError('wechaty is not logged in (or not ready yet)', { retryAfterMs: OFFLINE_RETRY_MS });

  async function mentionContacts(staffIds: string[], inRoom: (c: Contact) => Promise<boolean>) {
    if (staffIds.length === 0) return [];
    const rows = await db
      .select({ contactId: staffIdentities.externalUserId })
      .from(staffIdentities)
      .where(and(eq(staffIdentities.channel, 'wechaty'), inJson(staffIdentities.staffId, staffIds, 'text')));
    const contacts: Contact[] = [];
    for (const { contactId } of rows) {
      const contact = await bot.Contact.find({ id: contactId }).catch(() => undefined);
      if (contact && (await inRoom(contact).catch(() => false))) contacts.push(contact);
    }
    return contacts;
  }

  /** The room or contact a chat id names; rooms first for ids that look like rooms. */
  async function findChat(
    chatId: string,
  ): Promise<{ kind: 'room'; room: Room } | { kind: 'contact'; contact: Contact } | null> {
    const asRoom = async () => {
      const room = await bot.Room.find({ id: chatId });
      return room ? { kind: 'room' as const, room } : null;
    };
    const asContact = async () => {
      const contact = await bot.Contact.find({ id: chatId });
      return contact ? { kind: 'contact' as const, contact } : null;
    };
    // find() returns undefined (and emits an 'error' on the bot) when the puppet has no such id.
    for (const find of looksLikeRoom(chatId) ? [asRoom, asContact] : [asContact, asRoom]) {
      const found = await find();
      if (found) return found;
    }
    return null;
  }

  async function sendNow(msg: OutboundDelivery): Promise<{ externalId?: string }> {
    if (!isOnline()) throw offline();
    const text = renderForWechaty(msg.reply);
    const wait = lastSentAt + minIntervalMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    let target: Awaited<ReturnType<typeof findChat>>;
    try {
      target = await findChat(msg.chatId);
    } catch (err) {
      if (!isOnline()) throw offline();
      throw new SendError(`wechaty lookup failed: ${describeError(err).message}`);
    }
    if (!target) {
      // Not found while logged in: the room or contact is gone for this account — unless the
      // puppet lost the connection meanwhile.
      if (!isOnline()) throw offline();
      log.warn({ outboxId: msg.outboxId }, 'wechaty: no such room or contact for this account');
      throw new SendError(`wechaty: no room or contact ${msg.chatId}`, { permanent: true });
    }
    try {
      if (target.kind === 'room') {
        const room = target.room;
        const mentions = await mentionContacts(msg.reply.mentions ?? [], (c) => room.has(c));
        const sent = await room.say(text, ...mentions);
        return sent ? { externalId: sent.id } : {};
      }
      const sent = await target.contact.say(text);
      return sent ? { externalId: sent.id } : {};
    } catch (err) {
      if (!isOnline()) throw offline();
      throw new SendError(`wechaty send failed: ${describeError(err).message}`);
    } finally {
      lastSentAt = Date.now();
    }
  }

  return {
    send(msg) {
      const result = queue.then(() => sendNow(msg));
      queue = result.catch(() => {});
      return result;
    },
  };
}
