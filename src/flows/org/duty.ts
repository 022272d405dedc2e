import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.ts';

const SHANGHAI_OFFSET_MS = 8 * 3600_000;

/** Shanghai weekday (1 = Monday … 7 = Sunday) and minute of the day. */
export function shanghaiWeekMinute(instant: Date): { weekday: number; minute: number } {
  const local = new Date(instant.getTime() + SHANGHAI_OFFSET_MS);
  const day = local.getUTCDay();
  return { weekday: day === 0 ? 7 : day, minute: local.getUTCHours() * 60 + local.getUTCMinutes() };
}

/**
 * Who of a team is on duty now, least loaded first, ties broken by who waited longest since
 * their last assignment (round robin). A shift that ends before it starts runs past midnight.
 */
export async function onDutyStaff(
  tx: DbOrTx,
  opts: { teamId: string; now: Date },
): Promise<{ staffId: string; openCases: number }[]> {
  const { weekday, minute } = shanghaiWeekMinute(opts.now);
  const yesterday = weekday === 1 ? 7 : weekday - 1;
  const rows = await tx.execute<{ staff_id: string; open_cases: number }>(sql`
    select s.id as staff_id,
           (select count(*)::int from cases c where c.assignee_id = s.id and c.state <> 'closed' and c.state <> 'cancelled') as open_cases,
           (select max(e.at) from case_events e where e.type = 'assigned' and e.actor_kind = 'system' and e.data->>'staffId' = s.id) as last_assigned
    from staff s
    where s.active
      and exists (select 1 from team_members m where m.team_id = ${opts.teamId} and m.staff_id = s.id)
      and exists (
        select 1 from duty_shifts d
        where d.team_id = ${opts.teamId} and d.staff_id = s.id and (
          (d.start_minute <= d.end_minute and ${weekday} = any(d.weekdays) and ${minute} >= d.start_minute and ${minute} < d.end_minute)
          or (d.start_minute > d.end_minute and ${weekday} = any(d.weekdays) and ${minute} >= d.start_minute)
          or (d.start_minute > d.end_minute and ${yesterday} = any(d.weekdays) and ${minute} < d.end_minute)
        ))
    order by open_cases asc, last_assigned asc nulls first, s.id asc
  `);
  return rows.map((r) => ({ staffId: r.staff_id, openCases: r.open_cases }));
}
