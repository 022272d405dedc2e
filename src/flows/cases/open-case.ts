import { sql } from 'drizzle-orm';
import { cases } from '../../db/schema/index.ts';
import { drawnIds, rowOf, sendStatement, viaBatch } from '../engine/batch.ts';
import type { Context } from '../engine/context.ts';
import { recordEvent } from './events.ts';

export type CaseRow = typeof cases.$inferSelect;
export type CaseKind = 'human' | 'enquiry' | 'repair' | 'booking' | 'notice' | 'complaint';

/**
 * Opens a case for the customer whose message is being handled (the case keeps their chat and
 * language, to tell them of its progress) and records who opened it. Routing is a separate step.
 */
export async function openCase(
  w: Context,
  opts: {
    kind: CaseKind;
    customerId: number;
    category?: string;
    priority?: 'P0' | 'P1' | 'P2';
    phone?: string | null;
    address?: string | null;
    area?: string | null;
    summary?: string | null;
    details?: Record<string, unknown>;
  },
): Promise<CaseRow> {
  const values: typeof cases.$inferInsert = {
    kind: opts.kind,
    category: opts.category ?? null,
    priority: opts.priority ?? 'P2',
    state: 'open',
    customerId: opts.customerId,
    channel: w.msg.channel,
    chatId: w.msg.chatId,
    customerLang: w.lang,
    phone: opts.phone ?? null,
    address: opts.address ?? null,
    area: opts.area ?? null,
    summary: opts.summary ?? null,
    details: opts.details ?? {},
    createdAt: w.now,
    updatedAt: w.now,
  };
  // In a batch the cases opened in one round are one insert. Each case's row is matched to its
  // request by the request's place in the statement, which the statement returns (`drawnIds`).
  const row = await viaBatch(w.tx, 'cases.open', values, async (all) => {
    const inserted = await sendStatement<Record<string, unknown> & { n: string | number }>(
      w.tx,
      sql`
      with input as (
        select * from rows from (jsonb_to_recordset(${JSON.stringify(
          all.map((v) => ({
            kind: v.kind,
            category: v.category,
            priority: v.priority,
            state: v.state,
            customer_id: v.customerId,
            channel: v.channel,
            chat_id: v.chatId,
            customer_lang: v.customerLang,
            phone: v.phone,
            address: v.address,
            area: v.area,
            summary: v.summary,
            details: v.details,
            created_at: (v.createdAt as Date).toISOString(),
            updated_at: (v.updatedAt as Date).toISOString(),
          })),
        )}::jsonb)
          as (kind text, category text, priority text, state text, customer_id int, channel text, chat_id text,
              customer_lang text, phone text, address text, area text, summary text, details jsonb,
              created_at timestamptz, updated_at timestamptz))
          with ordinality as r(kind, category, priority, state, customer_id, channel, chat_id, customer_lang,
                               phone, address, area, summary, details, created_at, updated_at, n)),
      ${drawnIds('cases')},
      inserted as (
        insert into cases (id, kind, category, priority, state, customer_id, channel, chat_id, customer_lang,
                           phone, address, area, summary, details, created_at, updated_at) overriding system value
        select ids.id, r.kind, r.category, r.priority, r.state, r.customer_id, r.channel, r.chat_id, r.customer_lang,
               r.phone, r.address, r.area, r.summary, r.details, r.created_at, r.updated_at
        from input as r join ids using (n)
        order by n
        returning *)
      select ids.n, inserted.* from inserted join ids using (id)`,
    );
    const byN = new Map(inserted.map((r) => [Number(r.n), rowOf(cases, r)]));
    return all.map((_, i) => byN.get(i + 1)!);
  });
  await recordEvent(w, {
    caseId: row!.id,
    actorKind: 'customer',
    actorId: String(opts.customerId),
    type: 'opened',
    data: { kind: opts.kind, category: opts.category ?? null, channel: w.msg.channel },
  });
  return row!;
}
