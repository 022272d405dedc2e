import { randomInt } from 'node:crypto';
import { and, eq, gt, isNull, or } from 'drizzle-orm';
import { bindCodes, staff, staffIdentities, teamChats, teams } from '../../db/schema/index.ts';
import type { Context } from '../engine/context.ts';
import { normalizeWords } from '../engine/intents.ts';
import type { Channel } from '../engine/message.ts';
import { enqueueMessage } from '../outbox/enqueue.ts';
import type { Work } from '../work.ts';
import { findTeam, type StaffRow } from './directory.ts';
import { moveGroupChat } from './move-chat.ts';

const CODE_HOURS = 24;
// No 0/O, 1/I/L: codes are read aloud and typed from a phone.
const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';

export type BindCommand =
  | { verb: 'bindcode'; team: string }
  | { verb: 'staffcode'; staff: string }
  | { verb: 'bind' | 'register'; code: string };

/** Reads /bindcode, /staffcode (managers), /bind (in a group), /register (privately); Chinese words too. */
export function parseBindCommand(text: string | undefined): BindCommand | null {
  if (!text) return null;
  const m = /^\/?(bindcode|staffcode|bind|register|绑定码|注册码|绑定|注册)(?:@\w+)?(?:\s+(.+))?$/i.exec(
    text.trim(),
  );
  if (!m) return null;
  const word = m[1]!.toLowerCase();
  const arg = (m[2] ?? '').trim();
  if (word === 'bindcode' || word === '绑定码') return { verb: 'bindcode', team: arg };
  if (word === 'staffcode' || word === '注册码') return { verb: 'staffcode', staff: arg };
  const code = normalizeWords(arg).toUpperCase().replace(/[\s-]/g, '');
  return { verb: word === 'bind' || word === '绑定' ? 'bind' : 'register', code };
}

function newCode(): string {
  return Array.from({ length: 8 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
}

/** Managers: a one-time code to bind a team's group chat, or to register a staff member's chat account. */
async function issueCode(ctx: Context, manager: StaffRow, cmd: BindCommand): Promise<void> {
  const expiresAt = new Date(ctx.now.getTime() + CODE_HOURS * 3600_000);
  const code = newCode();
  if (cmd.verb === 'bindcode') {
    const [team] = cmd.team
      ? await ctx.tx
          .select()
          .from(teams)
          .where(or(eq(teams.id, cmd.team), eq(teams.name, cmd.team)))
      : [];
    if (!team)
      return ctx.say(cmd.team ? ctx.text('bind.unknownTeam', { team: cmd.team }) : ctx.text('bind.usage'));
    await ctx.tx
      .insert(bindCodes)
      .values({ code, kind: 'group', teamId: team.id, createdBy: manager.id, createdAt: ctx.now, expiresAt });
    return ctx.say(ctx.text('bind.codeGroup', { team: team.name, code, hours: CODE_HOURS }));
  }
  if (cmd.verb === 'staffcode') {
    const [person] = cmd.staff
      ? await ctx.tx
          .select()
          .from(staff)
          .where(and(eq(staff.active, true), or(eq(staff.id, cmd.staff), eq(staff.name, cmd.staff))))
      : [];
    if (!person)
      return ctx.say(
        cmd.staff ? ctx.text('bind.unknownStaff', { staff: cmd.staff }) : ctx.text('bind.usage'),
      );
    await ctx.tx.insert(bindCodes).values({
      code,
      kind: 'staff',
      staffId: person.id,
      createdBy: manager.id,
      createdAt: ctx.now,
      expiresAt,
    });
    return ctx.say(ctx.text('bind.codeStaff', { staff: person.name, code, hours: CODE_HOURS }));
  }
}

/** Spends a code once: the row is claimed in the same statement that checks it. */
async function claim(ctx: Context, code: string, kind: 'group' | 'staff') {
  const [row] = await ctx.tx
    .update(bindCodes)
    .set({ usedAt: ctx.now, usedBy: `${ctx.msg.channel}:${ctx.msg.chatId}:${ctx.msg.sender.id}` })
    .where(
      and(
        eq(bindCodes.code, code),
        eq(bindCodes.kind, kind),
        isNull(bindCodes.usedAt),
        gt(bindCodes.expiresAt, ctx.now),
      ),
    )
    .returning();
  return row ?? null;
}

/**
 * Binding and registration, on any channel. Returns false when the message is not one of these
 * commands. A group can be bound only with a manager's code, never by whoever adds the bot.
 */
export async function handleBindCommand(ctx: Context, sender: StaffRow | null): Promise<boolean> {
  const cmd = parseBindCommand(ctx.msg.text);
  if (!cmd) return false;
  const { log } = ctx.deps;
  if (cmd.verb === 'bindcode' || cmd.verb === 'staffcode') {
    if (!sender?.roles.includes('manager')) ctx.say(ctx.text('manager.only'));
    else if (ctx.msg.chatKind !== 'private') ctx.say(ctx.text('bind.privateOnly'));
    else await issueCode(ctx, sender, cmd);
    return true;
  }
  if (cmd.verb === 'bind') {
    if (ctx.msg.chatKind !== 'group') {
      ctx.say(ctx.text('bind.groupOnly'));
      return true;
    }
    const row = await claim(ctx, cmd.code, 'group');
    if (!row?.teamId) {
      log.warn({ channel: ctx.msg.channel, chatId: ctx.msg.chatId }, 'group bind refused: bad code');
      ctx.say(ctx.text('bind.invalid'));
      return true;
    }
    // One group per team and channel: binding a new group replaces the old one.
    await ctx.tx
      .delete(teamChats)
      .where(and(eq(teamChats.teamId, row.teamId), eq(teamChats.channel, ctx.msg.channel)));
    await ctx.tx
      .insert(teamChats)
      .values({ channel: ctx.msg.channel, chatId: ctx.msg.chatId, teamId: row.teamId })
      .onConflictDoUpdate({ target: [teamChats.channel, teamChats.chatId], set: { teamId: row.teamId } });
    const [team] = await ctx.tx.select().from(teams).where(eq(teams.id, row.teamId));
    log.info(
      { channel: ctx.msg.channel, chatId: ctx.msg.chatId, teamId: row.teamId, by: row.createdBy },
      'group bound',
    );
    ctx.say(ctx.text('bind.bound', { team: team?.name ?? row.teamId }));
    return true;
  }
  if (ctx.msg.chatKind !== 'private') {
    ctx.say(ctx.text('bind.privateOnly'));
    return true;
  }
  const row = await claim(ctx, cmd.code, 'staff');
  if (!row?.staffId) {
    log.warn({ channel: ctx.msg.channel }, 'staff registration refused: bad code');
    ctx.say(ctx.text('bind.invalid'));
    return true;
  }
  await ctx.tx
    .insert(staffIdentities)
    .values({ channel: ctx.msg.channel, externalUserId: ctx.msg.sender.id, staffId: row.staffId })
    .onConflictDoUpdate({
      target: [staffIdentities.channel, staffIdentities.externalUserId],
      set: { staffId: row.staffId },
    });
  const [person] = await ctx.tx.select().from(staff).where(eq(staff.id, row.staffId));
  log.info({ channel: ctx.msg.channel, staffId: row.staffId, by: row.createdBy }, 'staff registered');
  ctx.say(ctx.text('bind.registered', { staff: person?.name ?? row.staffId }));
  return true;
}

/**
 * The channel says a bound group now lives under a new chat id (Telegram upgrades a group to a
 * supergroup when it grows or its settings change, and the old id stops working): the binding
 * and the messages waiting for the group follow it, and the team is told once, in the new chat,
 * that its cases still arrive there. Nothing happens for a group that was not bound.
 */
export async function followMovedGroup(
  w: Work,
  channel: Channel,
  move: { from: string; to: string },
): Promise<void> {
  const { teamId } = await moveGroupChat(w.tx, { channel, ...move });
  if (!teamId) return;
  w.deps.log.info(
    { channel, from: move.from, to: move.to, teamId },
    'group moved to a new chat id; binding followed',
  );
  const team = await findTeam(w.tx, teamId);
  // To the moved group only (the team may have groups on other channels too).
  await enqueueMessage(w.tx, {
    channel,
    chatId: move.to,
    reply: { text: w.deps.t('zh', 'bind.moved', { team: team?.name ?? teamId }) },
    now: w.now,
    effects: w.effects,
    dedupKey: `chat-moved:${channel}:${move.to}`,
  });
}
