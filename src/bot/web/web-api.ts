import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import rateLimit from '@fastify/rate-limit';
import { and, asc, eq, gt, sql } from 'drizzle-orm';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { inboundMessages, outbox, staffIdentities, teamChats } from '../../db/schema/index.ts';
import { directChatId } from '../../flows/engine/direct-chat.ts';
import type { Reply } from '../../flows/engine/message.ts';
import type { Runtime } from '../../runtime.ts';
import type { InboundPipeline } from '../pipeline.ts';

const chatIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, '1–64 letters, digits, _ or -');

export const webMessageSchema = z.object({
  chatId: chatIdSchema,
  userId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, '1–64 letters, digits, _ or -'),
  chatKind: z.enum(['private', 'group']).default('private'),
  text: z.string().max(20_000, 'at most 20000 characters').optional(),
  action: z.string().max(200, 'at most 200 characters').optional(),
  messageId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,100}$/, '1–100 letters, digits, _ or -')
    .optional(),
  userName: z.string().max(64).optional(),
  lang: z.enum(['zh', 'en']).optional(),
});

const cursorSchema = z.object({
  after: z
    .string()
    .regex(/^\d{1,15}$/, 'a cursor from a previous answer')
    .optional(),
});

function fail(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).send({ error: { code, message } });
}

/**
 * The web chat channel: the page at `/` and a JSON API that other systems can use as a channel.
 * Messages are stored before the 202 is sent; replies are read from the delivered outbox.
 */
export async function registerWebChat(
  app: FastifyInstance,
  rt: Runtime,
  pipeline: InboundPipeline,
): Promise<void> {
  const page = await readFile(new URL('./public/index.html', import.meta.url), 'utf8');
  const { db } = rt.database;

  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(page));

  await app.register(async (api) => {
    // Polling is cheap and frequent (the page polls every chat it shows); sending is limited per
    // address, so one noisy client cannot flood the dialogue engine.
    await api.register(rateLimit, { global: false });
    if (rt.env.WEB_API_TOKEN) {
      const expected = `Bearer ${rt.env.WEB_API_TOKEN}`;
      api.addHook('onRequest', async (req, reply) => {
        if (req.headers.authorization !== expected)
          return fail(reply, 401, 'unauthorized', 'missing or wrong bearer token');
      });
    }

    const limit = rt.env.WEB_API_SEND_LIMIT;
    const sendConfig = limit > 0 ? { config: { rateLimit: { max: limit, timeWindow: '1 minute' } } } : {};
    api.post('/api/web/messages', sendConfig, async (req, reply) => {
      const parsed = webMessageSchema.safeParse(req.body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        return fail(reply, 400, 'invalid_message', `${issue.path.join('.') || 'body'}: ${issue.message}`);
      }
      const m = parsed.data;
      if (m.chatKind === 'group') {
        const [bound] = await db
          .select()
          .from(teamChats)
          .where(and(eq(teamChats.channel, 'web'), eq(teamChats.chatId, m.chatId)));
        if (!bound) return fail(reply, 404, 'chat_not_found', `no group chat ${m.chatId}`);
      }
      const stored = await pipeline.receive({
        channel: 'web',
        channelMessageId: `${m.chatId}:${m.messageId ?? randomUUID()}`,
        chatId: m.chatId,
        chatKind: m.chatKind,
        sender: { id: m.userId, name: m.userName, lang: m.lang },
        text: m.text,
        action: m.action,
        receivedAt: new Date(),
      });
      return reply.code(202).send({ accepted: true, duplicate: stored.duplicate });
    });

    api.get<{ Params: { chatId: string }; Querystring: { after?: string } }>(
      '/api/web/chats/:chatId/messages',
      { config: { rateLimit: { max: 600, timeWindow: '1 minute' } } },
      async (req, reply) => {
        const chat = chatIdSchema.safeParse(req.params.chatId);
        const query = cursorSchema.safeParse(req.query);
        if (!chat.success)
          return fail(reply, 400, 'invalid_chat', `chatId: ${chat.error.issues[0]!.message}`);
        if (!query.success)
          return fail(reply, 400, 'invalid_cursor', `after: ${query.error.issues[0]!.message}`);
        const chatId = chat.data;
        const after = Number(query.data.after ?? 0);
        const rows = await db
          .select({ id: outbox.id, payload: outbox.payload, sentAt: outbox.sentAt })
          .from(outbox)
          .where(
            and(
              eq(outbox.channel, 'web'),
              eq(outbox.chatId, chatId),
              eq(outbox.state, 'sent'),
              gt(outbox.id, after),
            ),
          )
          .orderBy(asc(outbox.id))
          .limit(200);
        if (rows.length === 0 && after === 0 && !(await chatExists(chatId)))
          return fail(reply, 404, 'chat_not_found', `no chat ${chatId} yet: send a message to it first`);
        return {
          messages: rows.map((r) => {
            const p = r.payload as unknown as Reply;
            return {
              id: String(r.id),
              at: r.sentAt?.toISOString(),
              text: p.text,
              choices: [...(p.choices ?? []), ...(p.quick ?? [])],
              ...(p.card ? { card: p.card } : {}),
            };
          }),
          cursor: rows.length > 0 ? String(rows.at(-1)!.id) : (query.data.after ?? null),
        };
      },
    );

    api.get('/api/web/personas', async () => {
      const policy = rt.deps.policy;
      const groupOf = new Map(policy.teams.flatMap((t) => (t.chats.web ? [[t.id, t] as const] : [])));
      const staff = policy.staff.flatMap((s) =>
        s.identities.web
          ? s.teams.flatMap((teamId) => {
              const team = groupOf.get(teamId);
              return team
                ? [{ userId: s.identities.web!, name: s.name, chatId: team.chats.web!, chatName: team.name }]
                : [];
            })
          : [],
      );
      const people = policy.staff.flatMap((s) =>
        s.identities.web
          ? [
              {
                userId: s.identities.web,
                name: s.name,
                chatId: directChatId('web', s.identities.web),
                roles: s.roles,
              },
            ]
          : [],
      );
      return {
        customer: { userId: 'customer-demo', chatId: 'c-customer-demo' },
        staff,
        managers: people.filter((p) => p.roles.includes('manager')),
        direct: people,
      };
    });
  });

  /** A web chat exists once someone wrote in it, or it is a team's group or a staff member's private chat. */
  async function chatExists(chatId: string): Promise<boolean> {
    const [row] = await db.execute<{ found: boolean }>(sql`select (
      exists (select 1 from ${inboundMessages} where channel = 'web' and chat_id = ${chatId})
      or exists (select 1 from ${outbox} where channel = 'web' and chat_id = ${chatId})
      or exists (select 1 from ${teamChats} where channel = 'web' and chat_id = ${chatId})
      or exists (select 1 from ${staffIdentities} where channel = 'web' and 'dm-' || external_user_id = ${chatId})
    ) as found`);
    return row?.found === true;
  }
}
