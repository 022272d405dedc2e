import type { Channel, Reply } from '../flows/engine/message.ts';

/**
 * A failure to deliver: `retryAfterMs` when the channel says when to try again, `permanent` when
 * it never will work, `movedTo` when the chat now has another id (a Telegram group upgraded to a
 * supergroup): the chat's binding and waiting messages follow it and the message is sent there.
 */
export class SendError extends Error {
  constructor(
    message: string,
    readonly opts: { retryAfterMs?: number; permanent?: boolean; movedTo?: string } = {},
  ) {
    super(message);
  }
}

/** One message to deliver. */
export interface OutboundDelivery {
  outboxId: number;
  chatId: string;
  reply: Reply;
  /**
   * For a case card (`reply.caseId`): the channel's id of the last card of that case sent to this
   * chat, so a channel that can edit messages updates it in place instead of posting a new one.
   */
  previousExternalId?: string;
}

/** Delivers one outbox message on a channel; returns the channel's id for the sent message. */
export interface ChannelSender {
  send(msg: OutboundDelivery): Promise<{ externalId?: string }>;
}

export type Senders = Partial<Record<Channel, ChannelSender>>;

/** The web chat reads delivered rows straight from the outbox, so delivering is marking. */
export const webSender: ChannelSender = { send: async () => ({}) };
