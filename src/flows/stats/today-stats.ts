import { sql } from 'drizzle-orm';
import { shanghaiDate } from '../deadlines/calendar.ts';
import type { Context } from '../engine/context.ts';

/** Today's case figures for managers (the full /stats of SPEC §9 builds on this). */
export async function todayStats(ctx: Context): Promise<string> {
  const date = shanghaiDate(ctx.now);
  const start = new Date(`${date}T00:00:00+08:00`);
  const [row] = await ctx.tx.execute<{ created: number; open: number; taken: number; closed: number; overdue: number }>(sql`
    select
      (select count(*)::int from cases where created_at >= ${start}) as created,
      (select count(*)::int from cases where state = 'open') as open,
      (select count(*)::int from cases where state = 'taken') as taken,
      (select count(*)::int from cases where state = 'closed' and closed_at >= ${start}) as closed,
      (select count(distinct case_id)::int from deadlines
         where (state = 'running' and due_at < ${ctx.now}) or breached_at >= ${start}) as overdue
  `);
  return ctx.text('manager.stats', { date, ...row! });
}
