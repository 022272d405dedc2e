import { and, desc, eq, sql } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import type { Db } from '../../../db/client.ts';
import { inboundMessages } from '../../../db/schema/index.ts';
import type { Env } from '../../../env.ts';
import type { Clock } from '../../../flows/clock.ts';
import { computeDue, WorkCalendar } from '../../../flows/deadlines/calendar.ts';
import { renderPlainText } from '../../../flows/engine/render-text.ts';
import type { Policy } from '../../../flows/policy/schema.ts';
import type { Logger } from '../../../log.ts';
import { type ChannelSender, type OutboundDelivery, SendError } from '../../../workers/senders.ts';
import { createWeChatApi, type WeChatApi, WeChatApiError } from './api.ts';
import { oaConfig } from './config.ts';

/** How long to wait after a quota error (45009 daily quota, 45047 too many messages in the window). */
export const QUOTA_RETRY_MS = 10 * 60_000;
/** The customer-service window is closed (WeChat's answer when our own check is not enough). */
export const WINDOW_CLOSED = 45015;

/** Errors that resending never fixes: the outbox row is marked dead and staff phone the customer. */
const PERMANENT = new Set([
  40003, // invalid openid
  40037, // invalid template_id
  43004, // the user does not follow the account
  43019, // the user blocked the account
  43101, // the user refuses this kind of message
  47003, // a template argument is invalid
  48001, // the account lacks the API permission
]);
const QUOTA = new Set([45009, 45047]);

/**
 * When an official-account follower last wrote, clicked or followed (not unsubscribing). The
 * channel is a literal, not a parameter: the index holds that channel's messages only, and a
 * prepared statement's generic plan can use it only if the statement names the channel itself.
 */
export function lastMessageOf(db: Db, openid: string) {
  return db
    .select({ at: inboundMessages.receivedAt })
    .from(inboundMessages)
    .where(
      and(
        sql`${inboundMessages.channel} = 'wechat-oa'`,
        eq(inboundMessages.senderId, openid),
        sql`${inboundMessages.payload}->>'event' is distinct from 'unsubscribe'`,
      ),
    )
    .orderBy(desc(inboundMessages.receivedAt))
    .limit(1);
}

export interface WeChatOaSenderOptions {
  env: Env;
  policy: Policy;
  redis: Redis;
  db: Db;
  clock: Clock;
  log: Logger;
  /** A ready API client (tests); otherwise one is made from env, sharing the token through redis. */
  api?: WeChatApi;
}

const cut = (text: string, max: number) =>
  [...text].length > max ? `${[...text].slice(0, max - 1).join('')}…` : text;

/**
 * The template message sent outside the 48-hour window, when `policy.wechat.templateId` is set.
 * Templates differ per account, and WeChat ignores data fields a template does not have, so the
 * text goes in the usual ones: `first` (the whole text; old-style templates), `thing1` (its first
 * line, at most 20 characters; new-style templates, whose first field is a 事物 such as 工单进度)
 * and `remark` (the hotline). Pick a template whose fields are among these.
 */
export function templateData(text: string, policy: Policy): Record<string, { value: string }> {
  const firstLine = text.split('\n').find((l) => l.trim()) ?? text;
  return {
    first: { value: cut(text, 200) },
    thing1: { value: cut(firstLine.trim(), 20) },
    remark: { value: `如有疑问请致电 ${policy.company.hotline}` },
  };
}

/** Maps a WeChat API failure to what the outbox worker understands. */
export function toSendError(err: unknown): SendError {
  if (err instanceof SendError) return err;
  if (err instanceof WeChatApiError) {
    if (QUOTA.has(err.errcode)) return new SendError(err.message, { retryAfterMs: QUOTA_RETRY_MS });
    if (PERMANENT.has(err.errcode)) return new SendError(err.message, { permanent: true });
    return new SendError(err.message);
  }
  return new SendError(`wechat send failed: ${(err as Error)?.message ?? String(err)}`);
}

/**
 * The official account's sender for the outbox worker. Within `policy.wechat.serviceWindow`
 * (48 h) of the customer's last message it uses the customer-service message API; outside it
 * (or when WeChat answers 45015) a template message if `policy.wechat.templateId` is set, else a
 * permanent failure, so the row is marked dead and the customer's team is asked to phone them.
 */
export function createWeChatOaSender(opts: WeChatOaSenderOptions): ChannelSender {
  const config = oaConfig(opts.env);
  if (!config && !opts.api)
    throw new Error('the WeChat official account is not configured (WECHAT_OA_APP_ID)');
  const log = opts.log.child({ part: 'wechat-oa' });
  const api =
    opts.api ??
    createWeChatApi({
      appId: config!.appId,
      appSecret: config!.appSecret,
      apiBase: config!.apiBase,
      redis: opts.redis,
      prefix: opts.env.QUEUE_PREFIX,
      log,
    });
  const { policy, db, clock } = opts;
  const calendar = new WorkCalendar({
    overrides: policy.calendar.years,
    workingHours: policy.calendar.workingHours,
  });

  /** Whether the customer wrote (or clicked, or followed) within the service window. */
  async function windowOpen(openid: string): Promise<boolean> {
    const [last] = await lastMessageOf(db, openid);
    if (!last) return false;
    return clock.now().getTime() < computeDue(last.at, policy.wechat.serviceWindow, calendar).getTime();
  }

  async function sendTemplate(openid: string, text: string): Promise<{ externalId?: string }> {
    const templateId = policy.wechat.templateId;
    if (!templateId) throw new SendError('48-hour window closed', { permanent: true });
    try {
      const answer = await api.post<{ msgid?: number | string }>('/cgi-bin/message/template/send', {
        touser: openid,
        template_id: templateId,
        data: templateData(text, policy),
      });
      return { externalId: answer.msgid !== undefined ? `template:${answer.msgid}` : undefined };
    } catch (err) {
      throw toSendError(err);
    }
  }

  return {
    async send(msg: OutboundDelivery) {
      const text = renderPlainText(msg.reply);
      if (await windowOpen(msg.chatId)) {
        try {
          await api.post('/cgi-bin/message/custom/send', {
            touser: msg.chatId,
            msgtype: 'text',
            text: { content: text },
          });
          return {};
        } catch (err) {
          if (!(err instanceof WeChatApiError && err.errcode === WINDOW_CLOSED)) {
            const e = toSendError(err);
            log.warn({ outboxId: msg.outboxId, err: e.message }, 'wechat customer-service message failed');
            throw e;
          }
        }
      }
      log.info({ outboxId: msg.outboxId }, 'wechat 48-hour window closed');
      return sendTemplate(msg.chatId, text);
    },
  };
}
