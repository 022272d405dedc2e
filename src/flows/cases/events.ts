import { sql } from 'drizzle-orm';
import { sendStatement, viaBatch } from '../engine/batch.ts';
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
  const values = {
    caseId: opts.caseId,
    at: w.now,
    actorKind: opts.actorKind,
    actorId: opts.actorId ?? null,
    type: opts.type,
    data: opts.data ?? {},
  };
  // Nobody waits for an audit row: in a batch it goes out with the next round (deferred).
  await viaBatch(
    w.tx,
    'case.events',
    values,
    async (all) => {
      await sendStatement(
        w.tx,
        sql`
        insert into case_events (case_id, at, actor_kind, actor_id, type, data)
        select r.case_id, r.at, r.actor_kind, r.actor_id, r.type, r.data
        from jsonb_to_recordset(${JSON.stringify(
          all.map((v) => ({
            case_id: v.caseId,
            at: v.at.toISOString(),
            actor_kind: v.actorKind,
            actor_id: v.actorId,
            type: v.type,
            data: v.data,
          })),
        )}::jsonb) as r(case_id int, at timestamptz, actor_kind text, actor_id text, type text, data jsonb)`,
      );
      return all.map(() => undefined);
    },
    { deferred: true },
  );
}
