import { and, eq, notInArray } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { dutyShifts, staff, staffIdentities, teamChats, teamMembers, teams } from '../../db/schema/index.ts';
import type { Policy } from '../policy/schema.ts';

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
const CHANNEL_OF = { web: 'web', telegram: 'telegram', wechat: 'wechat-oa', wechaty: 'wechaty' } as const;

/**
 * Writes the policy's teams, staff, chats and roster into the database, which is where the
 * flows read them. Bindings made at run time (a Telegram group bound by code) are kept.
 */
export async function syncOrganisation(db: Db, policy: Policy): Promise<void> {
  await db.transaction(async (tx) => {
    const now = new Date();
    for (const t of policy.teams) {
      const row = {
        id: t.id,
        name: t.name,
        emergency: t.emergency,
        supervisorId: t.supervisor ?? null,
        updatedAt: now,
      };
      await tx.insert(teams).values(row).onConflictDoUpdate({ target: teams.id, set: row });
    }
    for (const s of policy.staff) {
      const row = { id: s.id, name: s.name, roles: s.roles, active: true, updatedAt: now };
      await tx.insert(staff).values(row).onConflictDoUpdate({ target: staff.id, set: row });
    }
    const staffIds = policy.staff.map((s) => s.id);
    // Staff removed from the policy stay in the database (their cases keep their names) but can do nothing.
    await tx.update(staff).set({ active: false, updatedAt: now }).where(notInArray(staff.id, staffIds));
    // Memberships the policy no longer lists go; the others stay (with their round-robin position).
    for (const s of policy.staff)
      await tx
        .delete(teamMembers)
        .where(
          s.teams.length > 0
            ? and(eq(teamMembers.staffId, s.id), notInArray(teamMembers.teamId, s.teams))
            : eq(teamMembers.staffId, s.id),
        );
    for (const s of policy.staff) {
      for (const teamId of s.teams)
        await tx.insert(teamMembers).values({ teamId, staffId: s.id }).onConflictDoNothing();
      for (const [key, externalUserId] of Object.entries(s.identities)) {
        if (!externalUserId) continue;
        const channel = CHANNEL_OF[key as keyof typeof CHANNEL_OF];
        await tx
          .insert(staffIdentities)
          .values({ channel, externalUserId, staffId: s.id })
          .onConflictDoUpdate({
            target: [staffIdentities.channel, staffIdentities.externalUserId],
            set: { staffId: s.id },
          });
      }
    }
    for (const t of policy.teams)
      for (const [key, chatId] of Object.entries(t.chats)) {
        if (!chatId) continue;
        const channel = CHANNEL_OF[key as keyof typeof CHANNEL_OF];
        await tx.delete(teamChats).where(and(eq(teamChats.teamId, t.id), eq(teamChats.channel, channel)));
        await tx
          .insert(teamChats)
          .values({ channel, chatId, teamId: t.id })
          .onConflictDoUpdate({ target: [teamChats.channel, teamChats.chatId], set: { teamId: t.id } });
      }
    await tx.delete(dutyShifts);
    for (const r of policy.roster)
      for (const staffId of r.staff)
        await tx.insert(dutyShifts).values({
          teamId: r.team,
          staffId,
          weekdays: r.days,
          startMinute: minutes(r.from),
          endMinute: minutes(r.to),
        });
  });
}
