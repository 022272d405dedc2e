import { boolean, integer, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/** A team (班组) with its group chats; cases are routed to teams. */
export const teams = pgTable('teams', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  supervisorId: text('supervisor_id'),
  emergency: boolean('emergency').notNull().default(false),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/** A staff member; roles: staff, supervisor, manager. */
export const staff = pgTable('staff', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  roles: text('roles').array().notNull().default([]),
  active: boolean('active').notNull().default(true),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Which chat account belongs to which staff member (a Telegram user id, a web user id, …). */
export const staffIdentities = pgTable(
  'staff_identities',
  {
    channel: text('channel').notNull(),
    externalUserId: text('external_user_id').notNull(),
    staffId: text('staff_id')
      .notNull()
      .references(() => staff.id, { onDelete: 'cascade' }),
  },
  (t) => [primaryKey({ columns: [t.channel, t.externalUserId] })],
);

export const teamMembers = pgTable(
  'team_members',
  {
    teamId: text('team_id')
      .notNull()
      .references(() => teams.id, { onDelete: 'cascade' }),
    staffId: text('staff_id')
      .notNull()
      .references(() => staff.id, { onDelete: 'cascade' }),
    /** When the member was last given a case of this team: round robin among equally loaded members. */
    lastAssignedAt: timestamp('last_assigned_at', { withTimezone: true }),
  },
  (t) => [primaryKey({ columns: [t.teamId, t.staffId] })],
);

/** A team's group chat on a channel (one chat serves one team). */
export const teamChats = pgTable(
  'team_chats',
  {
    channel: text('channel').notNull(),
    chatId: text('chat_id').notNull(),
    teamId: text('team_id')
      .notNull()
      .references(() => teams.id, { onDelete: 'cascade' }),
  },
  (t) => [
    primaryKey({ columns: [t.channel, t.chatId] }),
    uniqueIndex('team_chats_team_channel_uq').on(t.teamId, t.channel),
  ],
);

/**
 * One-time codes a manager hands out: a `group` code binds a group chat to a team (/bind), a
 * `staff` code links a chat account to a staff member (/register). Whoever holds the code may use
 * it once, before it expires.
 */
export const bindCodes = pgTable('bind_codes', {
  code: text('code').primaryKey(),
  kind: text('kind').notNull(),
  teamId: text('team_id').references(() => teams.id, { onDelete: 'cascade' }),
  staffId: text('staff_id').references(() => staff.id, { onDelete: 'cascade' }),
  createdBy: text('created_by').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  usedAt: timestamp('used_at', { withTimezone: true }),
  usedBy: text('used_by'),
});

/**
 * Duty roster (值班表): who is on duty for a team, on which weekdays (1 = Monday … 7 = Sunday)
 * and between which Shanghai wall-clock minutes of the day (end may pass midnight: end < start).
 */
export const dutyShifts = pgTable('duty_shifts', {
  id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
  teamId: text('team_id')
    .notNull()
    .references(() => teams.id, { onDelete: 'cascade' }),
  staffId: text('staff_id')
    .notNull()
    .references(() => staff.id, { onDelete: 'cascade' }),
  weekdays: integer('weekdays').array().notNull(),
  startMinute: integer('start_minute').notNull(),
  endMinute: integer('end_minute').notNull(),
});
