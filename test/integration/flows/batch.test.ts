import { and, asc, count, countDistinct, eq, isNotNull, like } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InboundPipeline } from '../../../src/bot/pipeline.ts';
import { beforeEachStatement } from '../../../src/db/client.ts';
import {
  caseEvents,
  cases,
  deadlines,
  dialogues,
  inboundMessages,
  outbox,
} from '../../../src/db/schema/index.ts';
import { ManualClock } from '../../../src/flows/clock.ts';
import { beginBatch } from '../../../src/flows/engine/batch.ts';
import { emptyEffects } from '../../../src/flows/engine/effects.ts';
import type { Reply } from '../../../src/flows/engine/message.ts';
import { enqueueMessage } from '../../../src/flows/outbox/enqueue.ts';
import { FAULT, webMessage } from '../../fixtures/fault-dialogue.ts';
import { startTestBot, type TestBot } from '../../fixtures/harness.ts';
import { twoTeamPolicy } from '../../fixtures/policy.ts';

// Monday 2026-11-23 10:00 in Shanghai: 王师傅 and 李班长 are both on duty.
const clock = new ManualClock('2026-11-23T10:00:00+08:00');
let bot: TestBot;
beforeAll(async () => {
  bot = await startTestBot({ clock, policy: twoTeamPolicy() });
});
afterAll(async () => {
  await bot?.close();
});
const db = () => bot.rt.database.db;

async function repliesTo(chatId: string): Promise<Reply[]> {
  const rows = await db()
    .select()
    .from(outbox)
    .where(and(eq(outbox.channel, 'web'), eq(outbox.chatId, chatId)))
    .orderBy(asc(outbox.id));
  return rows.map((r) => r.payload as unknown as Reply);
}

/** The same texts with a customer's case number put back to a placeholder. */
const shape = (replies: Reply[]) => replies.map((r) => r.text.replace(/\d{6}/g, '######'));

describe('messages arriving together share a transaction (group commit)', () => {
  it('forty customers at once: the same answers as one alone, in order, a case each, shared out evenly', async () => {
    // One customer alone first: the answers every customer must get.
    for (const [step, body] of FAULT.entries())
      await bot.pipeline.receiveAndProcess(webMessage('alone', `alone-${step}`, body));
    const expected = shape(await repliesTo('c-alone'));
    expect(expected.at(-1)).toContain('工单号');

    const users = Array.from({ length: 40 }, (_, i) => `crowd${i}`);
    for (const [step, body] of FAULT.entries())
      await Promise.all(
        users.map((u) => bot.pipeline.receiveAndProcess(webMessage(u, `${u}-${step}`, body))),
      );

    for (const u of users) expect(shape(await repliesTo(`c-${u}`))).toEqual(expected);
    // Each customer is told the number of their own case (opened by one insert for the round).
    for (const u of users) {
      const told = Number(/工单号 (\d+)/.exec((await repliesTo(`c-${u}`)).at(-1)!.text)?.[1]);
      const [own] = await db()
        .select({ id: cases.id })
        .from(cases)
        .where(eq(cases.chatId, `c-${u}`));
      expect(told).toBe(own!.id);
    }
    const [crowd] = await db().select({ n: count() }).from(cases).where(like(cases.chatId, 'c-crowd%'));
    expect(crowd!.n).toBe(40);
    // Cases and clocks written by the batched statements hold what the single path writes.
    const [alone] = await db().select().from(cases).where(eq(cases.chatId, 'c-alone'));
    const [one] = await db().select().from(cases).where(eq(cases.chatId, 'c-crowd7'));
    const strip = (c: typeof alone) => ({ ...c, id: 0, customerId: 0, chatId: '', assigneeId: '' });
    expect(strip(one!)).toEqual(strip(alone!));
    const clocksOf = async (caseId: number) =>
      (
        await db().select().from(deadlines).where(eq(deadlines.caseId, caseId)).orderBy(asc(deadlines.kind))
      ).map((d) => ({ ...d, id: 0, caseId: 0 }));
    expect(await clocksOf(one!.id)).toEqual(await clocksOf(alone!.id));
    expect(await clocksOf(one!.id)).toHaveLength(3);
    const eventsOf = async (caseId: number) =>
      (
        await db().select().from(caseEvents).where(eq(caseEvents.caseId, caseId)).orderBy(asc(caseEvents.id))
      ).map((e) => [e.type, e.actorKind]);
    expect(await eventsOf(one!.id)).toEqual(await eventsOf(alone!.id));
    expect((await eventsOf(one!.id)).length).toBeGreaterThanOrEqual(2);
    // The group card and the assignee's private copy, as for the customer alone.
    const [cards] = await db()
      .select({ n: count() })
      .from(outbox)
      .where(and(eq(outbox.caseId, one!.id)));
    const [aloneCards] = await db()
      .select({ n: count() })
      .from(outbox)
      .where(and(eq(outbox.caseId, alone!.id)));
    expect(cards!.n).toBe(aloneCards!.n);
    expect(cards!.n).toBeGreaterThanOrEqual(1);
    // Fewest open cases first, even among cases opened by the same transaction: 41 cases, 21 + 20.
    const load = await db()
      .select({ assignee: cases.assigneeId, n: count() })
      .from(cases)
      .groupBy(cases.assigneeId);
    expect(load.map((r) => r.assignee).sort()).toEqual(['li', 'wang']);
    expect(Math.abs(load[0]!.n - load[1]!.n)).toBeLessThanOrEqual(1);
    // They really were handled together: far fewer commits (processing instants) than messages.
    const [stored] = await db()
      .select({ n: count(), instants: countDistinct(inboundMessages.processedAt) })
      .from(inboundMessages)
      .where(like(inboundMessages.chatId, 'c-crowd%'));
    expect(stored!.n).toBe(320);
    expect(stored!.instants).toBeLessThan(100);
  });

  it('a message delivered several times among others is stored and answered once', async () => {
    const msgs = [
      webMessage('dup', 'dup-1', { text: '你好' }),
      webMessage('dup', 'dup-1', { text: '你好' }),
      webMessage('other1', 'other1-1', { text: '你好' }),
      webMessage('dup', 'dup-1', { text: '你好' }),
      webMessage('other2', 'other2-1', { text: '你好' }),
    ];
    const results = await Promise.all(msgs.map((m) => bot.pipeline.receiveAndProcess(m)));
    expect(results.filter((r) => !r.duplicate)).toHaveLength(3);
    expect(
      new Set(
        results
          .slice(0, 4)
          .filter((_, i) => i !== 2)
          .map((r) => r.id),
      ).size,
    ).toBe(1);
    expect(await repliesTo('c-dup')).toHaveLength(1);
    const again = await bot.pipeline.receiveAndProcess(msgs[0]!);
    expect(again.duplicate).toBe(true);
    expect(await repliesTo('c-dup')).toHaveLength(1);
  });

  it("one sender's messages handed in together are handled one after the other, in order", async () => {
    await Promise.all(
      FAULT.slice(0, 3).map((body, i) =>
        bot.pipeline.receiveAndProcess(webMessage('hasty', `hasty-${i}`, body)),
      ),
    );
    const [row] = await db().select().from(dialogues).where(eq(dialogues.userId, 'hasty'));
    expect(row!.step).toBe('phone');
    const texts = (await repliesTo('c-hasty')).map((r) => r.text);
    expect(texts).toHaveLength(3);
    expect(texts[2]).toContain('电话');
  });

  it('two bot processes (two pipelines) taking the same customers in turn: every case opened, no errors', async () => {
    const other = new InboundPipeline(bot.rt);
    const pipelines = [bot.pipeline, other];
    const users = Array.from({ length: 30 }, (_, i) => `twin${i}`);
    // Each customer's next message goes to the other process, as behind a load balancer.
    await Promise.all(
      users.map(async (u, i) => {
        for (const [step, body] of FAULT.entries())
          await pipelines[(i + step) % 2]!.receiveAndProcess(webMessage(u, `${u}-${step}`, body));
      }),
    );
    const [opened] = await db().select({ n: count() }).from(cases).where(like(cases.chatId, 'c-twin%'));
    expect(opened!.n).toBe(30);
    const [stored] = await db()
      .select({ n: count() })
      .from(inboundMessages)
      .where(and(like(inboundMessages.chatId, 'c-twin%'), isNotNull(inboundMessages.processedAt)));
    expect(stored!.n).toBe(240);
    const [errors] = await db()
      .select({ n: count() })
      .from(inboundMessages)
      .where(and(like(inboundMessages.chatId, 'c-twin%'), isNotNull(inboundMessages.error)));
    expect(errors!.n).toBe(0);
    for (const u of users.slice(0, 3)) expect(await repliesTo(`c-${u}`)).toHaveLength(8);
    await other.drain();
  });

  it("reports each transaction's start, phases and commit to the pipeline's hooks, in order", async () => {
    const seen: string[] = [];
    const note = (event: string) => (msgs: { channelMessageId: string }[]) =>
      seen.push(`${event} ${msgs.map((m) => m.channelMessageId).join(',')}`);
    const traced = new InboundPipeline(bot.rt, {
      onStarted: note('started'),
      onPhase: (msgs, phase) => note(phase)(msgs),
      onCommitted: note('committed'),
    });
    await Promise.all(
      ['hook1', 'hook2', 'hook3'].map((u) => traced.receiveAndProcess(webMessage(u, `${u}-0`, FAULT[0]!))),
    );
    const batch = 'hook1-0,hook2-0,hook3-0';
    expect(seen).toEqual([
      `started ${batch}`,
      `begun ${batch}`,
      `read ${batch}`,
      `handled ${batch}`,
      `committed ${batch}`,
    ]);
    await traced.drain();
  });

  it('a message whose handling fails leaves the others of its batch handled, and is stored with its error', async () => {
    const { rt } = bot;
    const failing = new InboundPipeline({
      ...rt,
      services: {
        ...rt.services,
        async detect(ctx, key, text) {
          if (text === 'BOOM') throw new Error('handler failed');
          return rt.services.detect(ctx, key, text);
        },
      },
    });
    const msgs = [
      webMessage('calm1', 'calm1-1', { text: '你好' }),
      webMessage('boom', 'boom-1', { text: 'BOOM' }),
      webMessage('calm2', 'calm2-1', { text: '你好' }),
    ];
    const results = await Promise.all(msgs.map((m) => failing.receiveAndProcess(m)));
    expect(results.every((r) => !r.duplicate)).toBe(true);
    expect(await repliesTo('c-calm1')).toHaveLength(1);
    expect(await repliesTo('c-calm2')).toHaveLength(1);
    expect(await repliesTo('c-boom')).toHaveLength(0);
    const [boom] = await db()
      .select()
      .from(inboundMessages)
      .where(eq(inboundMessages.channelMessageId, 'boom-1'));
    expect(boom!.processedAt).toBeNull();
    expect(boom!.attempts).toBe(1);
    expect(boom!.error).toContain('handler failed');
    const [errors] = await db()
      .select({ n: count() })
      .from(inboundMessages)
      .where(and(like(inboundMessages.chatId, 'c-calm%'), isNotNull(inboundMessages.error)));
    expect(errors!.n).toBe(0);
  });

  it('replies queued together get ids of their own: ascending as queued, none for a dedup key already used', async () => {
    await enqueueMessage(db(), {
      channel: 'web',
      chatId: 'c-ids-z',
      reply: { text: 'earlier' },
      now: clock.now(),
      effects: emptyEffects(),
      dedupKey: 'ids:stored',
    });
    const queued: { chatId: string; text: string; dedupKey?: string }[] = [
      { chatId: 'c-ids-x', text: 'x1' },
      { chatId: 'c-ids-y', text: 'y1', dedupKey: 'ids:new' },
      { chatId: 'c-ids-x', text: 'x2' },
      { chatId: 'c-ids-z', text: 'again', dedupKey: 'ids:new' },
      { chatId: 'c-ids-z', text: 'stored', dedupKey: 'ids:stored' },
      { chatId: 'c-ids-y', text: 'y2' },
    ];
    const effects = queued.map(() => emptyEffects());
    await db().transaction(async (tx) => {
      const batch = beginBatch(tx);
      beforeEachStatement(tx, () => batch.sendDeferred());
      // Every handler queues its reply in the same round: one insert for all six.
      await batch.run(
        queued.map(
          (q, i) => () =>
            enqueueMessage(tx, {
              channel: 'web',
              chatId: q.chatId,
              reply: { text: q.text },
              now: clock.now(),
              effects: effects[i]!,
              ...(q.dedupKey ? { dedupKey: q.dedupKey } : {}),
            }),
        ),
      );
      await batch.finish();
    });
    const ids = effects.map((e) => e.outboxIds);
    expect(ids.map((x) => x.length)).toEqual([1, 1, 1, 0, 0, 1]);
    const flat = ids.flat();
    expect([...flat].sort((a, b) => a - b)).toEqual(flat);
    for (const [i, q] of queued.entries()) {
      const id = ids[i]![0];
      if (id === undefined) continue;
      const [row] = await db().select().from(outbox).where(eq(outbox.id, id));
      expect([row!.chatId, (row!.payload as unknown as Reply).text]).toEqual([q.chatId, q.text]);
    }
  });

  it('a write held back in a batch reaches the database before any statement issued after it', async () => {
    const sent: string[] = [];
    const options = bot.rt.database.sql.options as unknown as { debug?: unknown };
    options.debug = (_connection: number, text: string) => sent.push(text.trim());
    try {
      const seen = await db().transaction(async (tx) => {
        const batch = beginBatch(tx);
        beforeEachStatement(tx, () => batch.sendDeferred());
        const effects = emptyEffects();
        const [handled] = await batch.run([
          async () => {
            await enqueueMessage(tx, {
              channel: 'web',
              chatId: 'c-held',
              reply: { text: '稍后发出' },
              now: clock.now(),
              effects,
            });
            const heldBack = !sent.some((t) => t.includes('insert into outbox'));
            // A statement of drizzle's own, not a batched one: the insert goes out ahead of it.
            const rows = await tx.select().from(outbox).where(eq(outbox.chatId, 'c-held'));
            return { heldBack, rowsSeen: rows.length };
          },
        ]);
        await batch.finish();
        return { ...(handled as PromiseFulfilledResult<object>).value, ids: effects.outboxIds.length };
      });
      expect(seen).toEqual({ heldBack: true, rowsSeen: 1, ids: 1 });
    } finally {
      options.debug = undefined;
    }
  });

  it('a held-back write that fails at the commit undoes the batch; its messages are then received one by one', async () => {
    // A real failure inside PostgreSQL, only for the dialogue that holds the marked address.
    await bot.rt.database.sql.unsafe(`
      create function fail_marked_dialogue() returns trigger language plpgsql as $$
      begin
        if new.data::text like '%失败楼%' then raise exception 'dialogue write refused'; end if;
        return new;
      end $$;
      create trigger fail_marked_dialogue before insert or update on dialogues
        for each row execute function fail_marked_dialogue();`);
    try {
      const users = ['steady1', 'marked', 'steady2'];
      for (const [step, body] of FAULT.slice(0, 2).entries())
        await Promise.all(
          users.map((u) => bot.pipeline.receiveAndProcess(webMessage(u, `${u}-${step}`, body))),
        );
      // The address step: the dialogue save is the last write of the handler, sent with the commit.
      await Promise.all(
        users.map((u) =>
          bot.pipeline.receiveAndProcess(
            webMessage(u, `${u}-2`, { text: u === 'marked' ? '西湖区失败楼 1 号' : '西湖区文三路 9 号' }),
          ),
        ),
      );
      for (const u of ['steady1', 'steady2']) {
        const replies = await repliesTo(`c-${u}`);
        expect(replies).toHaveLength(3);
        expect(replies[2]!.text).toContain('电话');
        const [d] = await db().select().from(dialogues).where(eq(dialogues.userId, u));
        expect(d!.step).toBe('phone');
      }
      const [marked] = await db()
        .select()
        .from(inboundMessages)
        .where(eq(inboundMessages.channelMessageId, 'marked-2'));
      expect(marked!.processedAt).toBeNull();
      expect(marked!.attempts).toBe(1);
      expect(marked!.error).toContain('dialogue write refused');
      expect(await repliesTo('c-marked')).toHaveLength(2);
    } finally {
      await bot.rt.database.sql.unsafe(
        'drop trigger fail_marked_dialogue on dialogues; drop function fail_marked_dialogue();',
      );
    }
  });
  it('a message that cannot be stored fails alone: the others of its batch are answered as received, once every transaction of theirs is over', async () => {
    // A real failure inside PostgreSQL for one message, and a slow store for another, so that the
    // failure is known while the slow one's own transaction still runs.
    await bot.rt.database.sql.unsafe(`
      create function refuse_marked_message() returns trigger language plpgsql as $$
      begin
        if new.channel_message_id = 'refused-0' then raise exception 'message refused'; end if;
        if new.channel_message_id = 'slow-0' then perform pg_sleep(0.3); end if;
        return new;
      end $$;
      create trigger refuse_marked_message before insert on inbound_messages
        for each row execute function refuse_marked_message();`);
    try {
      const outcomes = await Promise.allSettled(
        ['slow', 'refused', 'quick'].map((u) =>
          bot.pipeline.receiveAndProcess(webMessage(u, `${u}-0`, FAULT[0]!)),
        ),
      );
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({
        cause: expect.objectContaining({ message: 'message refused' }),
      });
      for (const u of ['slow', 'quick']) {
        const received = (outcomes[u === 'slow' ? 0 : 2] as PromiseFulfilledResult<{ duplicate: boolean }>)
          .value;
        expect(received.duplicate).toBe(false);
        const [stored] = await db()
          .select()
          .from(inboundMessages)
          .where(eq(inboundMessages.channelMessageId, `${u}-0`));
        expect(stored!.processedAt).not.toBeNull();
        expect(await repliesTo(`c-${u}`)).toHaveLength(1);
      }
      const refused = await db()
        .select()
        .from(inboundMessages)
        .where(eq(inboundMessages.channelMessageId, 'refused-0'));
      expect(refused).toEqual([]);
    } finally {
      await bot.rt.database.sql.unsafe(
        'drop trigger refuse_marked_message on inbound_messages; drop function refuse_marked_message();',
      );
    }
  });
  it('a message with a NUL character or half an emoji is stored and answered, and fails nothing else of its batch', async () => {
    const texts = { nul: '没\u0000气了', half: '没气了\ud83d', plain: '没气了' };
    const outcomes = await Promise.allSettled(
      Object.entries(texts).map(([u, text]) =>
        bot.pipeline.receiveAndProcess(webMessage(u, `${u}-0`, { text })),
      ),
    );
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    const stored = await db()
      .select()
      .from(inboundMessages)
      .where(like(inboundMessages.channelMessageId, '%-0'));
    const textOf = (id: string) =>
      (stored.find((r) => r.channelMessageId === id)!.payload as { text: string }).text;
    expect(textOf('nul-0')).toBe('没气了');
    expect(textOf('half-0')).toBe('没气了\ufffd');
    for (const u of Object.keys(texts)) {
      expect(stored.find((r) => r.channelMessageId === `${u}-0`)!.processedAt).not.toBeNull();
      expect(shape(await repliesTo(`c-${u}`))).toEqual(shape(await repliesTo('c-plain')));
    }
  });
});
