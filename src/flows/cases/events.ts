import { caseEvents } from '../../db/schema/index.ts';
import type { Work } from '../work.ts';

export type ActorKind = 'customer' | 'staff' | 'system';

/** Appends to a case's audit trail: who did what, when. */
export async function recordEvent(
  w: Work,
  opts: {
    caseId: number;
    actorKind: ActorKind;
    actorId?: string | null;
    type: string;
    data?: Record<string, unknown>;
  },
): Promise<void> {
  await w.tx.insert(caseEvents).values({
    caseId: opts.caseId,
    at: w.now,
    actorKind: opts.actorKind,
    actorId: opts.actorId ?? null,
    type: opts.type,
    data: opts.data ?? {},
  });
}
