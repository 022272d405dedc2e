import { sql } from 'drizzle-orm';
import { chatIdentities } from '../../db/schema/index.ts';
import type { FlowDeps } from '../deps.ts';
import type { Work } from '../work.ts';
import { pairKey, pairsInJson, selectFrom, sendStatement, viaBatch } from './batch.ts';
import type { TextKey, TextParams } from './catalogue.ts';
import type { InboundMessage, Lang, Reply } from './message.ts';

/** Everything a step sees while handling one inbound message. */
export interface Context extends Work {
  msg: InboundMessage;
  lang: Lang;
  /** Replies to the sender's chat, sent in order once the message is handled. */
  replies: Reply[];
  say(reply: Reply | string): void;
  text(key: TextKey, params?: TextParams): string;
  /** The customer behind the sender, created on first contact. */
  customerId(): Promise<number>;
}

/** Builds the context of one inbound message. */
export function createContext(w: Work & { deps: FlowDeps }, msg: InboundMessage, lang: Lang): Context {
  const replies: Reply[] = [];
  let customerId: number | undefined;
  const company = w.deps.policy.company;
  const defaults = {
    company: company.name,
    hotline: company.hotline,
    emergencyHotline: company.emergencyHotline,
  };
  return {
    ...w,
    msg,
    lang,
    replies,
    say: (reply) => replies.push(typeof reply === 'string' ? { text: reply } : reply),
    text: (key, params) => w.deps.t(lang, key, { ...defaults, ...params }),
    async customerId() {
      if (customerId !== undefined) return customerId;
      const existing = await viaBatch(
        w.tx,
        'customer.byIdentity',
        { channel: msg.channel, id: msg.sender.id },
        async (who) => {
          const rows = await selectFrom(
            w.tx,
            chatIdentities,
            pairsInJson(
              chatIdentities.channel,
              chatIdentities.externalUserId,
              who.map((x) => [x.channel, x.id]),
            ),
          );
          const found = new Map(rows.map((r) => [pairKey(r.channel, r.externalUserId), r.customerId]));
          return who.map((x) => found.get(pairKey(x.channel, x.id)) ?? null);
        },
      );
      if (existing !== null) {
        customerId = existing;
        return customerId;
      }
      customerId = await viaBatch(
        w.tx,
        'customer.create',
        { n: 0, channel: msg.channel, id: msg.sender.id, name: msg.sender.name ?? null, lang },
        async (all) => {
          // The customers and their chat identities in one statement; ids drawn first, in order.
          const at = w.now.toISOString();
          const rows = await sendStatement<{ n: number; id: string | number }>(
            w.tx,
            sql`
            with input as (
              select * from json_to_recordset(${JSON.stringify(all.map((c, n) => ({ ...c, n })))}::json)
                as r(n int, channel text, id text, name text, lang text)),
            ids as (select n, nextval(pg_get_serial_sequence('customers', 'id')) as customer_id from input),
            c as (
              insert into customers (id, name, lang, created_at, updated_at) overriding system value
              select ids.customer_id, input.name, input.lang, ${at}::timestamptz, ${at}::timestamptz
              from input join ids using (n)),
            i as (
              insert into chat_identities (channel, external_user_id, customer_id, created_at)
              select input.channel, input.id, ids.customer_id, ${at}::timestamptz
              from input join ids using (n))
            select n, customer_id as id from ids`,
          );
          const byN = new Map(rows.map((r) => [Number(r.n), Number(r.id)]));
          return all.map((_, n) => byN.get(n)!);
        },
      );
      return customerId;
    },
  };
}
