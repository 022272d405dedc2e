import type { Lang } from './catalogue.ts';

export type { Lang };
export type Channel = 'web' | 'telegram' | 'wechat-oa' | 'wechaty';
export type ChatKind = 'private' | 'group';

export interface Attachment {
  kind: 'image' | 'voice' | 'video' | 'file' | 'location';
  /** The channel's reference to fetch it (file id, media id, URL). */
  ref: string;
  caption?: string;
  /** For a location: the place's label and coordinates. */
  label?: string;
  lat?: number;
  lng?: number;
}

/** A message from a person, whatever the channel. */
export interface InboundMessage {
  channel: Channel;
  /** The channel's own id of this message: the deduplication key. */
  channelMessageId: string;
  chatId: string;
  chatKind: ChatKind;
  sender: { id: string; name?: string; lang?: Lang };
  text?: string;
  /** A button's payload, when a button was pressed. */
  action?: string;
  attachments?: Attachment[];
  /**
   * A notice from the channel itself, never typed by a person: this group chat now lives under
   * another id (a Telegram group upgraded to a supergroup). Set only by the channel adapters.
   */
  chatMoved?: { from: string; to: string };
  receivedAt: Date;
}

/** One button: its label, and the payload it sends back. */
export interface Choice {
  label: string;
  action: string;
}

export interface Card {
  title: string;
  lines: { label: string; value: string }[];
}

/**
 * What the bot says. `choices` answer the question (buttons, or numbered lines on text-only
 * channels); `quick` are navigation buttons (back, cancel) that text-only channels show as a hint.
 */
export interface Reply {
  text: string;
  choices?: Choice[];
  quick?: Choice[];
  card?: Card;
  /** Ties a card to its case so a channel can edit it in place when the case moves. */
  caseId?: number;
  /** Staff to @mention where the channel can (the assignee on a card in a WeChat group). */
  mentions?: string[];
}
