import { sql } from 'drizzle-orm';
import { shanghaiDate } from '../deadlines/calendar.ts';
import { formatSpan } from '../engine/format.ts';
import type { Policy } from '../policy/schema.ts';
import type { Work } from '../work.ts';
import { type StatsTextKey, statsTexts } from './stats-texts.ts';

export type StatsPeriod = 'today' | 'week' | 'month';
type Lang = 'zh' | 'en';
type StatsWork = Pick<Work, 'tx' | 'deps' | 'now'>;

const PERIOD_WORDS: Record<string, StatsPeriod> = {
  今日: 'today',
  今天: 'today',
  today: 'today',
  日: 'today',
  本周: 'week',
  周: 'week',
  week: 'week',
  本月: 'month',
  月: 'month',
  month: 'month',
};

/** The period a manager asked for: nothing means today; an unknown word is null. */
export function parsePeriod(text: string | undefined): StatsPeriod | null {
  const word = (text ?? '').trim().toLowerCase();
  if (word === '') return 'today';
  return PERIOD_WORDS[word] ?? null;
}

const DAY_MS = 86_400_000;

/** The Shanghai dates a period covers up to `now`, and the instant it starts (Shanghai midnight). */
export function periodRange(period: StatsPeriod, now: Date): { from: string; to: string; start: Date } {
  const to = shanghaiDate(now);
  let from = to;
  if (period === 'month') from = `${to.slice(0, 7)}-01`;
  if (period === 'week') {
    // getUTCDay on the bare date: 0 = Sunday … 6 = Saturday; weeks start on Monday.
    const sinceMonday = (new Date(`${to}T00:00:00Z`).getUTCDay() + 6) % 7;
    from = new Date(Date.parse(`${to}T00:00:00Z`) - sinceMonday * DAY_MS).toISOString().slice(0, 10);
  }
  return { from, to, start: new Date(`${from}T00:00:00+08:00`) };
}

type Params = Record<string, string | number>;

/** A stats text in `lang`, with the company's policy overrides, `{name}` placeholders filled. */
function text(lang: Lang, key: StatsTextKey, params: Params = {}, policy?: Policy): string {
  const template = policy?.texts[lang]?.[key] ?? statsTexts[lang][key];
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? String(params[name]) : whole,
  );
}

/** Looks a text up by a key built from data (a kind, a state), falling back to the raw value. */
function named(lang: Lang, prefix: string, id: string, policy: Policy): string {
  const key = `${prefix}.${id}`;
  return key in statsTexts[lang] ? text(lang, key as StatsTextKey, {}, policy) : id;
}

function categoryName(policy: Policy, lang: Lang, id: string | null): string {
  if (id === null) return text(lang, 'stats.uncategorised', {}, policy);
  const category = policy.repair.categories.find((c) => c.id === id);
  if (!category) return id;
  return lang === 'en' ? (category.nameEn ?? category.name) : category.name;
}

const KIND_ORDER = ['repair', 'enquiry', 'human', 'complaint', 'appointment'];
const STATE_ORDER = ['open', 'taken', 'arrived', 'closed', 'cancelled'];

/** Sorts ids by a preferred order, unknown ones after, alphabetically. */
function ordered(ids: Iterable<string>, order: readonly string[]): string[] {
  const rank = (id: string) => {
    const i = order.indexOf(id);
    return i === -1 ? order.length : i;
  };
  return [...ids].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

function addTo(map: Map<string, number>, key: string, n: number): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

const percent = (share: number) => `${(share * 100).toFixed(1)}%`;
const targetPercent = (target: number) => `${Number((target * 100).toFixed(1))}%`;

/**
 * The statistics of a period for managers (SPEC §9): cases created by kind, repairs by category
 * and state, open and overdue cases now, and the quality rates beside their targets (SPEC §1, §6).
 */
export async function statsReport(w: StatsWork, opts: { period: StatsPeriod; lang: Lang }): Promise<string> {
  const { policy } = w.deps;
  const { lang } = opts;
  const t = (key: StatsTextKey, params?: Params) => text(lang, key, params, policy);
  const range = periodRange(opts.period, w.now);
  // Raw SQL parameters go to the driver as text: pass instants as ISO strings.
  const start = range.start.toISOString();
  const now = w.now.toISOString();

  const created = await w.tx.execute<{ kind: string; category: string | null; state: string; n: number }>(sql`
    select kind, category, state, count(*)::int as n
    from cases
    where created_at >= ${start}::timestamptz and created_at <= ${now}::timestamptz
    group by kind, category, state
  `);
  const openNow = await w.tx.execute<{ state: string; n: number }>(sql`
    select state, count(*)::int as n
    from cases
    where state not in ('closed', 'cancelled')
    group by state
  `);
  // A clock counts as missed when it was marked breached, or met after it was due.
  const [figures] = await w.tx.execute<{
    overdue_now: number;
    breached: number;
    closed: number;
    timely: number;
    fft_known: number;
    fft_yes: number;
    rated: number;
    satisfied: number;
    rating_avg: number | null;
  }>(sql`
    with closed as (
      select c.fixed_first_time,
        not exists (
          select 1 from deadlines d
          where d.case_id = c.id and (d.breached_at is not null or d.met_at > d.due_at)
        ) as timely
      from cases c
      where c.kind = 'repair' and c.state = 'closed'
        and c.closed_at >= ${start}::timestamptz and c.closed_at <= ${now}::timestamptz
    ),
    rated as (
      select rating from cases
      where kind = 'repair' and rating is not null
        and rated_at >= ${start}::timestamptz and rated_at <= ${now}::timestamptz
    )
    select
      (select count(*)::int from deadlines
        where state = 'running' and due_at < ${now}::timestamptz) as overdue_now,
      (select count(*)::int from deadlines
        where breached_at >= ${start}::timestamptz and breached_at <= ${now}::timestamptz) as breached,
      (select count(*)::int from closed) as closed,
      (select count(*)::int from closed where timely) as timely,
      (select count(*)::int from closed where fixed_first_time is not null) as fft_known,
      (select count(*)::int from closed where fixed_first_time) as fft_yes,
      (select count(*)::int from rated) as rated,
      (select count(*)::int from rated where rating >= 4) as satisfied,
      (select avg(rating)::float8 from rated) as rating_avg
  `);
  const f = figures!;

  const byKind = new Map<string, number>();
  const byCategory = new Map<string, number>();
  const byState = new Map<string, number>();
  const NO_CATEGORY = '\u0000';
  let total = 0;
  for (const row of created) {
    total += row.n;
    addTo(byKind, row.kind, row.n);
    if (row.kind !== 'repair') continue;
    addTo(byCategory, row.category ?? NO_CATEGORY, row.n);
    addTo(byState, row.state, row.n);
  }
  const list = (items: [string, number][]) =>
    items.map(([name, n]) => t('stats.item', { name, n })).join(t('stats.separator'));

  const lines: string[] = [];
  const rangeText =
    range.from === range.to ? range.from : t('stats.range', { from: range.from, to: range.to });
  lines.push(t('stats.title', { period: t(`stats.period.${opts.period}`), range: rangeText }));

  const kinds = ordered(byKind.keys(), KIND_ORDER).map((k): [string, number] => [
    named(lang, 'stats.kind', k, policy),
    byKind.get(k)!,
  ]);
  lines.push(
    total === 0 ? t('stats.created', { total }) : t('stats.createdDetail', { total, list: list(kinds) }),
  );
  if (byCategory.size > 0) {
    const categoryOrder = [...policy.repair.categories.map((c) => c.id), NO_CATEGORY];
    const categories = ordered(byCategory.keys(), categoryOrder).map((c): [string, number] => [
      categoryName(policy, lang, c === NO_CATEGORY ? null : c),
      byCategory.get(c)!,
    ]);
    lines.push(t('stats.repairCategories', { list: list(categories) }));
    const states = ordered(byState.keys(), STATE_ORDER).map((s): [string, number] => [
      named(lang, 'stats.state', s, policy),
      byState.get(s)!,
    ]);
    lines.push(t('stats.repairStates', { list: list(states) }));
  }

  const openStates = ordered(
    openNow.map((r) => r.state),
    STATE_ORDER,
  ).map((s): [string, number] => [
    named(lang, 'stats.state', s, policy),
    openNow.find((r) => r.state === s)!.n,
  ]);
  const openTotal = openNow.reduce((sum, r) => sum + r.n, 0);
  lines.push(
    openTotal === 0
      ? t('stats.openNow', { total: openTotal })
      : t('stats.openNowDetail', { total: openTotal, list: list(openStates) }),
  );
  lines.push(t('stats.overdue', { now: f.overdue_now, period: f.breached }));

  /** A rate beside its target: "—" without a denominator, ⚠️ when below target. */
  const rate = (num: number, den: number, target: number) => ({
    rate: den === 0 ? t('stats.noRate') : percent(num / den),
    target: targetPercent(target),
    mark: den > 0 && num / den < target - 1e-9 ? t('stats.belowTarget') : '',
  });
  lines.push(t('stats.timeliness', rate(f.timely, f.closed, policy.targets.repairTimeliness)));
  lines.push(t('stats.firstTimeFix', rate(f.fft_yes, f.fft_known, policy.targets.firstTimeFix)));
  if (f.rated > 0) {
    lines.push(
      t('stats.rating', {
        n: f.rated,
        avg: (f.rating_avg ?? 0).toFixed(1),
        ...rate(f.satisfied, f.rated, policy.targets.satisfaction),
      }),
    );
  }
  return lines.join('\n');
}

/** The clocks past due now, most overdue first, with who holds each case (SPEC §9 overdue list). */
export async function overdueReport(w: StatsWork, opts: { lang: Lang; limit?: number }): Promise<string> {
  const { policy } = w.deps;
  const { lang } = opts;
  const t = (key: StatsTextKey, params?: Params) => text(lang, key, params, policy);
  const limit = Math.max(1, Math.floor(opts.limit ?? 30));
  const now = w.now.toISOString();
  const rows = await w.tx.execute<{
    case_id: number;
    clock: string;
    kind: string;
    category: string | null;
    assignee: string | null;
    late_ms: number;
    total: number;
  }>(sql`
    select d.case_id, d.kind as clock, c.kind, c.category, s.name as assignee,
      (extract(epoch from (${now}::timestamptz - d.due_at)) * 1000)::float8 as late_ms,
      count(*) over ()::int as total
    from deadlines d
    join cases c on c.id = d.case_id
    left join staff s on s.id = c.assignee_id
    where d.state = 'running' and d.due_at < ${now}::timestamptz
    order by d.due_at asc, d.case_id asc, d.id asc
    limit ${limit}
  `);
  if (rows.length === 0) return t('stats.overdue.none');
  const total = rows[0]!.total;
  const lines = [t('stats.overdue.title', { n: total })];
  for (const row of rows) {
    const what =
      row.kind === 'repair' && row.category !== null
        ? categoryName(policy, lang, row.category)
        : named(lang, 'stats.kind', row.kind, policy);
    lines.push(
      t('stats.overdue.line', {
        caseNo: row.case_id,
        what,
        clock: named(lang, 'stats.clock', row.clock, policy),
        late: formatSpan(row.late_ms, lang, w.deps.t),
        assignee: row.assignee ?? w.deps.t(lang, 'nobody'),
      }),
    );
  }
  if (total > rows.length) lines.push(t('stats.overdue.more', { n: total }));
  return lines.join('\n');
}
