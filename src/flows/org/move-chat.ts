import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.ts';
import type { Channel } from '../engine/message.ts';

/** Where a group chat went (Telegram: a group upgraded to a supergroup gets a new chat id). */
export interface ChatMove {
  channel: Channel;
  from: string;
  to: string;
}

/**
 * Makes a group's new chat id take the place of its old one: the team binding follows it, and so
 * do the messages still waiting for the old chat (in their order), so nothing is sent into the
 * void and staff commands from the new chat are recognised. Messages already sent stay where
 * they were sent (a card posted in the old group is posted anew in the new one). Idempotent: the
 * channel tells the bot twice (a notice in each chat, and the answer to a send), and a second
 * move finds nothing left. Returns the team that was bound to the old chat, if any.
 */
export async function moveGroupChat(tx: DbOrTx, move: ChatMove): Promise<{ teamId: string | null }> {
  if (move.from === move.to) return { teamId: null };
  // One statement, so no other transaction sees the binding half moved. When the new chat is
  // bound already (someone bound it again by hand), that binding stands and the old one goes.
  const [row] = await tx.execute<{ team_id: string | null }>(sql`
    with old as (
      delete from team_chats where channel = ${move.channel} and chat_id = ${move.from}
      returning team_id
    ), moved as (
      insert into team_chats (channel, chat_id, team_id)
      select ${move.channel}, ${move.to}, team_id from old
      on conflict do nothing
    ), pending as (
      update outbox set chat_id = ${move.to}
      where channel = ${move.channel} and chat_id = ${move.from} and state = 'pending'
    )
    select (select team_id from old) as team_id`);
  return { teamId: row?.team_id ?? null };
}
