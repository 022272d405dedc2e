import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.ts';
import { teamMembers } from '../../db/schema/index.ts';
import { sendStatement, viaBatch } from '../engine/batch.ts';
import type { StaffAccount } from './directory.ts';

const SHANGHAI_OFFSET_MS = 8 * 3600_000;

/** Shanghai weekday (1 = Monday … 7 = Sunday) and minute of the day. */
export function shanghaiWeekMinute(instant: Date): { weekday: number; minute: number } {
  const local = new Date(instant.getTime() + SHANGHAI_OFFSET_MS);
  const day = local.getUTCDay();
  return { weekday: day === 0 ? 7 : day, minute: local.getUTCHours() * 60 + local.getUTCMinutes() };
}

/** An on-duty member, with what routing needs to show and reach them. */
export interface OnDutyMember {
  staffId: string;
  name: string;
  openCases: number;
  /** Their chat accounts, to reach them privately. */
  identities: StaffAccount[];
}

/**
 * A member's load counts their open cases up to this many: the count reads an index entry per
 * case each time a case is given out, and past this a member is overloaded either way (members
 * at the cap take turns, as on any tie).
 */
export const LOAD_COUNT_CAP = 200;

/**
 * Who of a team is on duty now, least loaded first (see LOAD_COUNT_CAP), ties broken by who
 * waited longest since their last assignment (round robin). A shift that ends before it starts
 * runs past midnight.
 */
export async function onDutyStaff(tx: DbOrTx, opts: { teamId: string; now: Date }): Promise<OnDutyMember[]> {
  const { weekday, minute } = shanghaiWeekMinute(opts.now);
  const yesterday = weekday === 1 ? 7 : weekday - 1;
  const rows = await tx.execute<{
    staff_id: string;
    name: string;
    open_cases: number;
    /** json: as text, the way the driver is set up for drizzle (parsed here). */
    identities: StaffAccount[] | string;
  }>(sql`
    select s.id as staff_id, s.name,
           (select count(*)::int from (
              select from cases c
              where c.assignee_id = s.id and c.state in ('open', 'taken', 'arrived')
              limit ${sql.raw(String(LOAD_COUNT_CAP))}) as load) as open_cases,
           (select coalesce(json_agg(json_build_object('channel', i.channel, 'externalUserId', i.external_user_id)
                                     order by i.channel, i.external_user_id), '[]')
              from staff_identities i where i.staff_id = s.id) as identities,
           m.last_assigned_at
    from team_members m
    join staff s on s.id = m.staff_id
    where m.team_id = ${opts.teamId}
      and s.active
      and exists (
        select 1 from duty_shifts d
        where d.team_id = ${opts.teamId} and d.staff_id = s.id and (
          (d.start_minute <= d.end_minute and ${weekday} = any(d.weekdays) and ${minute} >= d.start_minute and ${minute} < d.end_minute)
          or (d.start_minute > d.end_minute and ${weekday} = any(d.weekdays) and ${minute} >= d.start_minute)
          or (d.start_minute > d.end_minute and ${yesterday} = any(d.weekdays) and ${minute} < d.end_minute)
        ))
    order by open_cases asc, m.last_assigned_at asc nulls first, s.id asc
  `);
  return rows.map((r) => ({
    staffId: r.staff_id,
    name: r.name,
    openCases: r.open_cases,
    identities: typeof r.identities === 'string' ? JSON.parse(r.identities) : r.identities,
  }));
}

/**
 * Records that a member was given a case now (the round robin among equally loaded members).
 * A member row another transaction is updating is skipped rather than waited for: the load
 * (open cases) decides first, and waiting here would serialise every case of a team.
 */
export async function markAssigned(
  tx: DbOrTx,
  opts: { teamId: string; staffId: string; now: Date },
): Promise<void> {
  const mark = { team: opts.teamId, staff: opts.staffId };
  await viaBatch(
    tx,
    'team.markAssigned',
    mark,
    async (all) => {
      await sendStatement(
        tx,
        sql`
      update ${teamMembers} set last_assigned_at = ${opts.now.toISOString()}::timestamptz
      where (team_id, staff_id) in (
        select m.team_id, m.staff_id from ${teamMembers} m
        join json_to_recordset(${JSON.stringify(all)}::json) as r(team text, staff text)
          on m.team_id = r.team and m.staff_id = r.staff
        for update of m skip locked)`,
      );
      return all.map(() => undefined);
    },
    { deferred: true },
  );
}
