import { and, eq, sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.ts';
import { staff, staffIdentities, teamChats, teamMembers, teams } from '../../db/schema/index.ts';
import {
  batchOf,
  groupedBy,
  inJson,
  pairKey,
  pairsInJson,
  rowOf,
  selectFrom,
  sendStatement,
  viaBatch,
} from '../engine/batch.ts';
import type { Channel } from '../engine/message.ts';

export type StaffRow = typeof staff.$inferSelect;
export type TeamRow = typeof teams.$inferSelect;

/** The active staff member behind a chat account, if any. */
export async function findStaffByIdentity(
  tx: DbOrTx,
  channel: Channel,
  externalUserId: string,
): Promise<StaffRow | null> {
  const batch = batchOf(tx);
  if (batch)
    return batch
      .coalescer<{ channel: Channel; id: string }, StaffRow | null>('staff.byIdentity', (who) =>
        findStaffByIdentities(tx, who),
      )
      .call({ channel, id: externalUserId });
  const rows = await tx
    .select({ s: staff })
    .from(staffIdentities)
    .innerJoin(staff, eq(staff.id, staffIdentities.staffId))
    .where(
      and(
        eq(staffIdentities.channel, channel),
        eq(staffIdentities.externalUserId, externalUserId),
        eq(staff.active, true),
      ),
    );
  return rows[0]?.s ?? null;
}

/** The active staff members behind several chat accounts, one per account (null: not staff), in one statement. */
export async function findStaffByIdentities(
  tx: DbOrTx,
  who: { channel: Channel; id: string }[],
): Promise<(StaffRow | null)[]> {
  const rows = await sendStatement(
    tx,
    sql`select ${staff}.*, ${staffIdentities.channel} as identity_channel, ${staffIdentities.externalUserId} as identity_id
        from ${staffIdentities} join ${staff} on ${staff.id} = ${staffIdentities.staffId}
        where ${pairsInJson(
          staffIdentities.channel,
          staffIdentities.externalUserId,
          who.map((w) => [w.channel, w.id]),
        )} and ${staff.active}`,
  );
  const found = new Map(
    rows.map((r) => [pairKey(String(r.identity_channel), String(r.identity_id)), rowOf(staff, r)]),
  );
  return who.map((w) => found.get(pairKey(w.channel, w.id)) ?? null);
}

/** The team a group chat serves, if it is bound to one. */
export async function findTeamByChat(tx: DbOrTx, channel: Channel, chatId: string): Promise<TeamRow | null> {
  const rows = await tx
    .select({ t: teams })
    .from(teamChats)
    .innerJoin(teams, eq(teams.id, teamChats.teamId))
    .where(and(eq(teamChats.channel, channel), eq(teamChats.chatId, chatId)));
  return rows[0]?.t ?? null;
}

export async function findTeam(tx: DbOrTx, teamId: string): Promise<TeamRow | null> {
  const rows = await tx.select().from(teams).where(eq(teams.id, teamId));
  return rows[0] ?? null;
}

export async function findStaff(tx: DbOrTx, staffId: string): Promise<StaffRow | null> {
  return viaBatch(tx, 'staff.byId', staffId, async (ids) => {
    const rows = await selectFrom(tx, staff, inJson(staff.id, ids, 'text'));
    return groupedBy(ids, rows, (r) => r.id).map((g) => g[0] ?? null);
  });
}

/** A group chat of a team. */
export type TeamChat = { channel: Channel; chatId: string };
/** A chat account of a staff member. */
export type StaffAccount = { channel: Channel; externalUserId: string };

/** Every group chat of a team, on every channel it has one. */
export async function teamChatsOf(tx: DbOrTx, teamId: string): Promise<TeamChat[]> {
  return viaBatch(tx, 'team.chats', teamId, async (ids) => {
    const rows = await selectFrom(tx, teamChats, inJson(teamChats.teamId, ids, 'text'));
    return groupedBy(ids, rows, (r) => r.teamId).map((g) =>
      g.map((r) => ({ channel: r.channel as Channel, chatId: r.chatId })),
    );
  });
}

export async function isTeamMember(tx: DbOrTx, teamId: string, staffId: string): Promise<boolean> {
  const rows = await tx
    .select({ one: sql<number>`1` })
    .from(teamMembers)
    .where(and(eq(teamMembers.teamId, teamId), eq(teamMembers.staffId, staffId)));
  return rows.length > 0;
}

/** The chat accounts of a staff member, to reach them privately. */
export async function identitiesOf(tx: DbOrTx, staffId: string): Promise<StaffAccount[]> {
  return viaBatch(tx, 'staff.identities', staffId, async (ids) => {
    const rows = await selectFrom(tx, staffIdentities, inJson(staffIdentities.staffId, ids, 'text'));
    return groupedBy(ids, rows, (r) => r.staffId).map((g) =>
      g.map((r) => ({ channel: r.channel as Channel, externalUserId: r.externalUserId })),
    );
  });
}

/** Active staff holding a role (e.g. every manager). */
export async function staffWithRole(
  tx: DbOrTx,
  role: 'staff' | 'supervisor' | 'manager',
): Promise<StaffRow[]> {
  return tx
    .select()
    .from(staff)
    .where(and(eq(staff.active, true), sql`${role} = ANY(${staff.roles})`));
}
