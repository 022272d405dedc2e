import { cases } from '../../db/schema/index.ts';
import { viaBatch } from '../engine/batch.ts';
import type { Channel, Lang } from '../engine/message.ts';
import type { Work } from '../work.ts';
import { recordEvent } from './events.ts';

export type CaseRow = typeof cases.$inferSelect;
export type CaseKind = 'human' | 'enquiry' | 'repair' | 'booking' | 'notice' | 'complaint';

/** Opens a case for a customer and records who opened it. Routing is a separate step. */
export async function openCase(
  w: Work,
  opts: {
    kind: CaseKind;
    customerId: number;
    channel: Channel;
    chatId: string;
    lang: Lang;
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
    channel: opts.channel,
    chatId: opts.chatId,
    customerLang: opts.lang,
    phone: opts.phone ?? null,
    address: opts.address ?? null,
    area: opts.area ?? null,
    summary: opts.summary ?? null,
    details: opts.details ?? {},
    createdAt: w.now,
    updatedAt: w.now,
  };
  // In a batch the cases opened in one round are one insert; RETURNING gives them in order.
  const row = await viaBatch(w.tx, 'cases.open', values, async (all) =>
    w.tx.insert(cases).values(all).returning(),
  );
  await recordEvent(w, {
    caseId: row!.id,
    actorKind: 'customer',
    actorId: String(opts.customerId),
    type: 'opened',
    data: { kind: opts.kind, category: opts.category ?? null, channel: opts.channel },
  });
  return row!;
}
