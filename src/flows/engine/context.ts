import { sql } from 'drizzle-orm';
import { chatIdentities } from '../../db/schema/index.ts';
import type { FlowDeps } from '../deps.ts';
import type { Work } from '../work.ts';
import { eachKey, pairKey, sendStatement, viaBatch } from './batch.ts';
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
  /**
   * What is known of the sender's customer record when a batch read it with the message
   * (null: no customer yet); undefined when it was not read. Kept up to date by this handler.
   */
  known?: KnownCustomer | null;
}

/** A customer and the contact they last gave (read with the message, see receiveBatch). */
export interface KnownCustomer {
  id: number;
  phone: string | null;
  address: string | null;
}

/**
 * The customers behind several chat accounts, one per account (null: none yet), with the contact
 * each last gave, in one statement.
 */
export async function findCustomersByIdentities(
  tx: Work['tx'],
  who: { channel: string; id: string }[],
): Promise<(KnownCustomer | null)[]> {
  if (who.length === 0) return [];
  const rows = await sendStatement<{
    channel: string;
    external_user_id: string;
    id: number;
    phone: string | null;
    address: string | null;
  }>(
    tx,
    sql`select x.* from ${eachKey(
      who.map((w) => [w.channel, w.id]),
      sql`select i.channel, i.external_user_id, c.id, c.phone, c.address
          from ${chatIdentities} i join customers c on c.id = i.customer_id
          where i.channel = k->>0 and i.external_user_id = k->>1`,
    )}`,
  );
  const found = new Map(
    rows.map((r) => [
      pairKey(r.channel, r.external_user_id),
      { id: Number(r.id), phone: r.phone, address: r.address },
    ]),
  );
  return who.map((w) => found.get(pairKey(w.channel, w.id)) ?? null);
}

/** Builds the context of one inbound message. */
export function createContext(
  w: Work & { deps: FlowDeps },
  msg: InboundMessage,
  lang: Lang,
  known?: KnownCustomer | null,
): Context {
  return new MessageContext(w, msg, lang, known);
}

/**
 * A class rather than an object of closures: a context is made for every message, and its
 * methods are then shared instead of created (and named) again each time.
 */
class MessageContext implements Context {
  readonly tx: Work['tx'];
  readonly deps: FlowDeps;
  readonly effects: Work['effects'];
  readonly now: Date;
  readonly msg: InboundMessage;
  readonly lang: Lang;
  readonly replies: Reply[] = [];
  known?: KnownCustomer | null;
  #customerId: number | undefined;

  constructor(w: Work & { deps: FlowDeps }, msg: InboundMessage, lang: Lang, known?: KnownCustomer | null) {
    this.tx = w.tx;
    this.deps = w.deps;
    this.effects = w.effects;
    this.now = w.now;
    this.msg = msg;
    this.lang = lang;
    this.known = known;
    this.#customerId = known?.id;
  }

  say(reply: Reply | string): void {
    this.replies.push(typeof reply === 'string' ? { text: reply } : reply);
  }

  text(key: TextKey, params?: TextParams): string {
    const company = this.deps.policy.company;
    return this.deps.t(this.lang, key, {
      company: company.name,
      hotline: company.hotline,
      emergencyHotline: company.emergencyHotline,
      ...params,
    });
  }

  async customerId(): Promise<number> {
    if (this.#customerId !== undefined) return this.#customerId;
    const { tx, msg } = this;
    // Read with the message and not there: a new customer (no need to look again).
    const existing =
      this.known === null
        ? null
        : await viaBatch(
            tx,
            'customer.byIdentity',
            { channel: msg.channel, id: msg.sender.id },
            async (who) => (await findCustomersByIdentities(tx, who)).map((c) => c?.id ?? null),
          );
    if (existing !== null) {
      this.#customerId = existing;
      return existing;
    }
    const at = this.now.toISOString();
    const id = await viaBatch(
      tx,
      'customer.create',
      { n: 0, channel: msg.channel, id: msg.sender.id, name: msg.sender.name ?? null, lang: this.lang },
      async (all) => {
        // The customers and their chat identities in one statement; ids drawn first, in order.
        const rows = await sendStatement<{ n: number; id: string | number }>(
          tx,
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
    this.#customerId = id;
    if (this.known === null) this.known = { id, phone: null, address: null };
    return id;
  }
}
