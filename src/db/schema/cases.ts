import { sql } from 'drizzle-orm';
import { boolean, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { customers } from './customers.ts';
import { staff, teams } from './staff.ts';

/**
 * A case (工单): every service process (enquiry, repair, booking, complaint, …) is a case with a
 * state, a team, an assignee and a history. Its id is the case number customers and staff quote.
 */
export const cases = pgTable(
  'cases',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity({ startWith: 100001 }),
    kind: text('kind').notNull(),
    category: text('category'),
    priority: text('priority').notNull().default('P2'),
    state: text('state').notNull(),
    customerId: integer('customer_id').references(() => customers.id),
    teamId: text('team_id').references(() => teams.id),
    assigneeId: text('assignee_id').references(() => staff.id),
    /** Where to tell the customer about progress: the chat the case came from. */
    channel: text('channel').notNull(),
    chatId: text('chat_id').notNull(),
    customerLang: text('customer_lang').notNull().default('zh'),
    phone: text('phone'),
    address: text('address'),
    area: text('area'),
    summary: text('summary'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
    closedAt: timestamp('closed_at', { withTimezone: true }),
    /** Recorded when a repair is resolved (SPEC §1 一次性维修合格率). */
    fixedFirstTime: boolean('fixed_first_time'),
    /** The customer's rating, 1 (非常不满意) … 5 (非常满意). */
    rating: integer('rating'),
    ratedAt: timestamp('rated_at', { withTimezone: true }),
  },
  (t) => [
    index('cases_customer_idx').on(t.customerId),
    index('cases_team_state_idx').on(t.teamId, t.state),
    index('cases_assignee_state_idx').on(t.assigneeId, t.state),
  ],
);

/** The audit trail: who did what to a case, when. Append-only. */
export const caseEvents = pgTable(
  'case_events',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    caseId: integer('case_id')
      .notNull()
      .references(() => cases.id, { onDelete: 'cascade' }),
    at: timestamp('at', { withTimezone: true }).notNull(),
    actorKind: text('actor_kind').notNull(),
    actorId: text('actor_id'),
    type: text('type').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [index('case_events_case_idx').on(t.caseId, t.id)],
);

/**
 * A clock on a case (respond, confirm, handle, repair, reply, resolve …). The row is the truth;
 * BullMQ only holds a timer that wakes the row at `nextAt`. `dueAt` is the time promised; after it
 * passes, `nextAt` walks the escalation ladder (`level` = steps taken). One row per (case, kind):
 * restarting a clock resets the row.
 */
export const deadlines = pgTable(
  'deadlines',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    caseId: integer('case_id')
      .notNull()
      .references(() => cases.id, { onDelete: 'cascade' }),
    kind: text('kind').notNull(),
    dueAt: timestamp('due_at', { withTimezone: true }).notNull(),
    /** When the timer next wakes this row; null when nothing more is to be done. */
    nextAt: timestamp('next_at', { withTimezone: true }),
    /** running → met | cancelled */
    state: text('state').notNull().default('running'),
    /** Rungs of the escalation ladder taken; -1 while the early reminder to the assignee is still to come. */
    level: integer('level').notNull().default(0),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull(),
    breachedAt: timestamp('breached_at', { withTimezone: true }),
    metAt: timestamp('met_at', { withTimezone: true }),
    /** Why the clock was missed, when staff said (SPEC §4). */
    breachReason: text('breach_reason'),
  },
  (t) => [
    uniqueIndex('deadlines_case_kind_uq').on(t.caseId, t.kind),
    index('deadlines_next_idx').on(t.nextAt).where(sql`state = 'running'`),
  ],
);
