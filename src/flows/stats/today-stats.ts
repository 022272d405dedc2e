import { sql } from 'drizzle-orm';
import { shanghaiDate } from '../deadlines/calendar.ts';
import type { Context } from '../engine/context.ts';

/** Today's case figures for managers (the full /stats of SPEC §9 builds on this). */
export async function todayStats(ctx: Context): Promise<string> {
  const date = shanghaiDate(ctx.now);
  // Raw SQL parameters go to the driver as text: pass instants as ISO strings.
  const start = `${date}T00:00:00+08:00`;
  const now = ctx.now.toISOString();
  const [row] = await ctx.tx.execute<{
    created: number;
    open: number;
    taken: number;
    closed: number;
    overdue: number;
  }>(sql`
    select
      (select count(*)::int from cases where created_at >= ${start}::timestamptz) as created,
      (select count(*)::int from cases where state = 'open') as open,
      (select count(*)::int from cases where state = 'taken') as taken,
      (select count(*)::int from cases where state = 'closed' and closed_at >= ${start}::timestamptz) as closed,
      (select count(distinct case_id)::int from deadlines
         where (state = 'running' and due_at < ${now}::timestamptz) or breached_at >= ${start}::timestamptz) as overdue
  `);
  return ctx.text('manager.stats', { date, ...row! });
}
