// `npm run bench:outbound [-- --messages N --group-messages N]`: how fast the outbox drains to
// Telegram, and whether it keeps within Telegram's flood limits and each chat's order.
//
// On a fresh database and a unique QUEUE_PREFIX:
//  - a Bot API on loopback: the telegram-test-api emulator behind a counting proxy
//    (bench/lib/bot-api.ts) that plays Telegram's flood control — per chat 1 msg/s with a burst of
//    2 (token bucket), per group 20 msgs in any 60 s, overall 30 msgs in any 1 s — and answers
//    429 with `parameters.retry_after` beyond them. The proxy forwards what it accepts to the
//    emulator, so the bot gets real emulator answers (message ids), and the emulator's store is
//    a second count of what arrived; at ≤ 30 msgs/s the extra hop costs nothing that matters;
//  - the runtime's env has TELEGRAM_BOT_TOKEN and TELEGRAM_API_ROOT = the proxy; the real outbox
//    workers (startWorkers with the web sender and the real Telegram sender of telegramSenders,
//    wrapped only to count its outcomes) deliver, with the bot's own limiter (≈ 90 % of each limit);
//  - 2,000 messages are written to the outbox in one transaction with enqueueMessage, round-robin
//    over the chats (message k of every chat before message k+1), and woken with one kick:
//    by default 1,800 to 50 private chats (36 each) and 200 to 5 groups (40 each).
//    Why 200 to groups: at the bot's 18 per 62 s a group gets 18 messages a minute, so 40 per group
//    take ≈ 2 min (18 at once, 18 a minute later, 4 a minute after that); 1,800 private messages
//    at 25/s take ≈ 72 s, so both limits bind and a run ends in ≈ 2 min, well inside the 4-min cap
//    (500 to groups would take ≈ 5.6 min; 360 is the most 5 groups can take in 4 min);
//  - it waits until every row is sent (or the cap), then reads the proxy's record: rates per chat,
//    per group and overall against Telegram's limits, 429s, and order within each chat (every
//    text ends with `#n`, its place in its chat).
// Figures are printed; the exit code is 1 when rows are left unsent, a 429 was provoked, or a
// chat's order was broken.
import { and, count, eq } from 'drizzle-orm';
import { telegramSenders } from '../src/bot/telegram/index.ts';
import { DEFAULT_RATE_LIMITS } from '../src/bot/telegram/rate-limit.ts';
import { outbox } from '../src/db/schema/index.ts';
import { emptyEffects } from '../src/flows/engine/effects.ts';
import { enqueueMessage } from '../src/flows/outbox/enqueue.ts';
import { outboxQueueName } from '../src/workers/queues.ts';
import { type ChannelSender, SendError, webSender } from '../src/workers/senders.ts';
import { startWorkers } from '../src/workers/start-workers.ts';
import { benchArgs } from './lib/args.ts';
import {
  type Accepted,
  type LimitingProxy,
  startEmulator,
  startLimitingProxy,
  TELEGRAM_LIMITS,
} from './lib/bot-api.ts';
import { finalJson, fmtLatency, say } from './lib/report.ts';
import { type Bench, sleep, startBench } from './lib/setup.ts';
import { percentile, round, rounded, summarize } from './lib/stats.ts';
import { cpuBetween, cpuFigures, fmtCpu, sampleCpu } from './lib/system.ts';

const args = benchArgs('usage: npm run bench:outbound -- [options]', {
  messages: { type: 'number', default: 2000, help: 'messages in all, enqueued at once' },
  'group-messages': {
    type: 'number',
    default: 200,
    help: 'of them to group chats (the rest to private chats)',
  },
  'private-chats': { type: 'number', default: 50, help: 'private chats (positive ids)' },
  groups: { type: 'number', default: 5, help: 'group chats (negative ids, -100…)' },
  'cap-seconds': {
    type: 'number',
    default: 240,
    help: 'give up when rows are still pending after this long',
  },
  'chat-burst': {
    type: 'number',
    default: TELEGRAM_LIMITS.chatBurst,
    help: "the proxy's per-chat burst tolerance (token bucket size, 1 msg/s refill)",
  },
  concurrency: { type: 'number', default: 16, help: 'outbox worker concurrency (the bot default is 16)' },
  pool: { type: 'number', default: 10, help: 'DATABASE_POOL_SIZE' },
});

const TOKEN = '987654:BENCH-outbound-token-abcdefghijklmnop';
const PRIVATE = Math.max(1, Math.floor(args['private-chats']));
const GROUPS = Math.floor(args.groups);
const TOTAL = Math.floor(args.messages);
const GROUP_MSGS = GROUPS > 0 ? Math.min(Math.floor(args['group-messages']), TOTAL) : 0;
const PRIVATE_MSGS = TOTAL - GROUP_MSGS;
const CAP_MS = args['cap-seconds'] * 1000;
const LIMITS = { ...TELEGRAM_LIMITS, chatBurst: Math.max(1, args['chat-burst']) };
const BOT = DEFAULT_RATE_LIMITS;
const botPerChat = (BOT.perChat.max * 1000) / BOT.perChat.windowMs; // msgs/s
const botPerGroup = (BOT.perGroup.max * 60_000) / BOT.perGroup.windowMs; // msgs/min
const botGlobal = (BOT.global.max * 1000) / BOT.global.windowMs; // msgs/s

interface Chat {
  id: string;
  group: boolean;
  messages: number;
}
/** Messages shared out as evenly as they go: the first chats get one more when it does not divide. */
const share = (n: number, k: number, i: number) => Math.floor(n / k) + (i < n % k ? 1 : 0);
const chats: Chat[] = [
  ...Array.from({ length: PRIVATE }, (_, i) => ({
    id: String(700_000_001 + i),
    group: false,
    messages: share(PRIVATE_MSGS, PRIVATE, i),
  })),
  ...Array.from({ length: GROUPS }, (_, i) => ({
    id: `-10019000000${String(i).padStart(2, '0')}`,
    group: true,
    messages: share(GROUP_MSGS, GROUPS, i),
  })),
];

const started = performance.now();
let exitCode = 0;
const emulator = await startEmulator();
let proxy: LimitingProxy | undefined;
let bench: Bench;
try {
  proxy = await startLimitingProxy({ upstream: emulator.config.apiURL, limits: LIMITS });
  bench = await startBench('ob', {
    poolSize: args.pool,
    env: { TELEGRAM_BOT_TOKEN: TOKEN, TELEGRAM_API_ROOT: proxy.apiRoot },
  });
} catch (err) {
  await proxy?.close();
  await emulator.stop();
  throw err;
}
const api = proxy;
bench.onCleanup(() => emulator.stop());
bench.onCleanup(() => api.close());
const { rt, db } = bench;

try {
  say(
    `bench:outbound — database ${db.name}, queue prefix ${bench.prefix}, Bot API ${api.apiRoot} → emulator ${emulator.config.apiURL}`,
  );
  say(
    `${TOTAL} messages: ${PRIVATE_MSGS} to ${PRIVATE} private chats, ${GROUP_MSGS} to ${GROUPS} groups; ` +
      `outbox worker concurrency ${args.concurrency}; cap ${args['cap-seconds']} s`,
  );
  say(
    `Telegram's limits (proxy): ${LIMITS.chatPerSec} msg/s per chat (burst ${LIMITS.chatBurst}), ` +
      `${LIMITS.groupPerMin}/min per group, ${LIMITS.globalPerSec}/s overall; the bot's limiter: ` +
      `${BOT.perChat.max} per ${BOT.perChat.windowMs} ms per chat, ${BOT.perGroup.max} per ${BOT.perGroup.windowMs / 1000} s per group, ` +
      `${BOT.global.max} per ${BOT.global.windowMs} ms overall and ${BOT.globalBurst.max} per ${BOT.globalBurst.windowMs} ms`,
  );

  // The real sender, counted: what each call ended in.
  const real = telegramSenders(rt).telegram;
  if (!real) throw new Error('no Telegram sender: TELEGRAM_BOT_TOKEN did not reach the runtime');
  const calls = { send: 0, sent: 0, limiterWait: 0, tooMany: 0, failed: 0 };
  const telegram: ChannelSender = {
    async send(d) {
      calls.send++;
      try {
        const r = await real.send(d);
        calls.sent++;
        return r;
      } catch (err) {
        if (err instanceof SendError && err.opts.retryAfterMs !== undefined) {
          // The limiter's own "wait" (sender.ts `slot`), or a 429 from the Bot API (toSendError).
          if (err.message.startsWith('telegram rate limit')) calls.limiterWait++;
          else calls.tooMany++;
        } else calls.failed++;
        throw err;
      }
    },
  };
  const workers = startWorkers(rt, { web: webSender, telegram }, { outboxConcurrency: args.concurrency });
  bench.onCleanup(() => workers.stop());
  const worker = workers.workers.find((w) => w.name === outboxQueueName('telegram'))!;
  let jobRuns = 0;
  worker.on('active', () => {
    jobRuns++;
  });
  await worker.waitUntilReady();

  // Enqueue everything in one transaction, round-robin over the chats, then one wake-up.
  const cpuBefore = await sampleCpu();
  const t0 = performance.now();
  const effects = emptyEffects();
  const now = new Date();
  await rt.database.db.transaction(async (tx) => {
    const most = Math.max(...chats.map((c) => c.messages));
    for (let k = 1; k <= most; k++)
      for (const c of chats)
        if (k <= c.messages)
          await enqueueMessage(tx, {
            channel: 'telegram',
            chatId: c.id,
            reply: { text: `bench:outbound ${c.group ? 'group' : 'chat'} ${c.id} #${k}` },
            now,
            effects,
          });
  });
  const committed = performance.now();
  await rt.kicker.kick(effects);
  const kicked = performance.now();
  say(
    `enqueued ${effects.outboxIds.length} rows in ${((committed - t0) / 1000).toFixed(2)} s (one transaction), ` +
      `jobs added in ${((kicked - committed) / 1000).toFixed(2)} s`,
  );

  // Wait until no row is pending (bounded by the cap).
  const states = async () => {
    const rows = await rt.database.db
      .select({ state: outbox.state, n: count() })
      .from(outbox)
      .where(eq(outbox.channel, 'telegram'))
      .groupBy(outbox.state);
    return Object.fromEntries(rows.map((r) => [r.state, r.n])) as Record<string, number>;
  };
  let last = await states();
  let lastProgress = performance.now();
  while ((last.pending ?? 0) > 0 && performance.now() - t0 < CAP_MS) {
    await sleep(200);
    last = await states();
    if (performance.now() - lastProgress >= 15_000) {
      lastProgress = performance.now();
      console.error(
        `bench:outbound: ${((lastProgress - t0) / 1000).toFixed(0)} s: ${last.sent ?? 0} sent, ` +
          `${last.pending ?? 0} pending, ${api.refused.length} refused with 429`,
      );
    }
  }
  const done = performance.now();
  const cpu = cpuBetween(cpuBefore, await sampleCpu());
  const timedOut = (last.pending ?? 0) > 0;
  const [deadRows] = await rt.database.db
    .select({ n: count() })
    .from(outbox)
    .where(and(eq(outbox.channel, 'telegram'), eq(outbox.state, 'dead')));

  // What reached the Bot API, from the proxy's record.
  const accepted = api.accepted.filter((a) => a.seq !== null);
  const byChat = new Map<string, Accepted[]>();
  for (const a of accepted) {
    const list = byChat.get(a.chatId) ?? [];
    list.push(a);
    byChat.set(a.chatId, list);
  }
  let outOfOrder = 0;
  let duplicates = 0;
  let missing = 0;
  let gapsUnder1s = 0;
  const chatRates: number[] = [];
  const chatPeaks: number[] = [];
  const groupAvgPerMin: number[] = [];
  const groupPeakPerMin: number[] = [];
  let privateDoneAt = 0;
  for (const c of chats) {
    const list = byChat.get(c.id) ?? [];
    const seen = new Set<number>();
    let highest = 0;
    for (const a of list) {
      if (seen.has(a.seq!)) duplicates++;
      else if (a.seq! < highest) outOfOrder++;
      seen.add(a.seq!);
      highest = Math.max(highest, a.seq!);
    }
    missing += c.messages - seen.size;
    if (list.length >= 2) {
      const span = list[list.length - 1]!.at - list[0]!.at;
      chatRates.push(((list.length - 1) * 1000) / span);
      let minGap = Number.POSITIVE_INFINITY;
      for (let i = 1; i < list.length; i++) {
        const gap = list[i]!.at - list[i - 1]!.at;
        minGap = Math.min(minGap, gap);
        if (gap < 1000) gapsUnder1s++;
      }
      chatPeaks.push(1000 / minGap);
      if (c.group) {
        groupAvgPerMin.push(((list.length - 1) * 60_000) / span);
        groupPeakPerMin.push(
          peakInWindow(
            list.map((a) => a.at),
            60_000,
          ),
        );
      }
    }
    if (!c.group && list.length > 0) privateDoneAt = Math.max(privateDoneAt, list[list.length - 1]!.at);
  }
  const times = accepted.map((a) => a.at);
  const firstAt = times[0] ?? Number.NaN;
  const lastAt = times[times.length - 1] ?? Number.NaN;
  const overallAvg = ((times.length - 1) * 1000) / (lastAt - firstAt);
  const overallPeak = peakInWindow(times, 1000);
  // While private chats still had messages the global limit is what binds (groups sit at 18 per 62 s).
  const inPrivatePhase = times.filter((t) => t <= privateDoneAt).length;
  const privatePhaseRate = ((inPrivatePhase - 1) * 1000) / (privateDoneAt - firstAt);
  const perTenSeconds = bucketCounts(times, t0, 10_000);
  const latency = summarize(accepted.map((a) => a.at - committed));
  const refusedBy = { chat: 0, group: 0, global: 0 };
  for (const r of api.refused) refusedBy[r.limit]++;
  const emulated = emulator.storage.botMessages.filter((m) => m.botToken === TOKEN);
  const emulatorOrderOk = chats.every((c) => {
    const seqs = emulated
      .filter((m) => String(m.message.chat_id) === c.id)
      .map((m) => Number(/#(\d+)$/.exec(String(m.message.text))?.[1]));
    return seqs.every((s, i) => i === 0 || s > seqs[i - 1]!);
  });

  // The fastest the bot's own limiter allows for this load (from the moment the jobs exist).
  const groupBoundS = Math.max(
    0,
    ...chats
      .filter((c) => c.group)
      .map((c) => {
        const k = c.messages - 1;
        return (
          Math.floor(k / BOT.perGroup.max) * (BOT.perGroup.windowMs / 1000) +
          (k % BOT.perGroup.max) * (BOT.perChat.windowMs / 1000)
        );
      }),
  );
  const chatBoundS = Math.max(0, ...chats.map((c) => ((c.messages - 1) * BOT.perChat.windowMs) / 1000));
  const globalBoundS = TOTAL / botGlobal;
  const boundS = Math.max(groupBoundS, chatBoundS, globalBoundS);
  const drainS = (lastAt - kicked) / 1000;
  const endToEndS = (done - t0) / 1000;
  const tooMany = api.refused.length;

  const pct = (x: number, limit: number) => `${((x / limit) * 100).toFixed(0)} %`;
  const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  const chatP50 = percentile(
    [...chatRates].sort((a, b) => a - b),
    50,
  );
  const chatMax = Math.max(...chatRates);
  const chatPeakMax = Math.max(...chatPeaks);
  const groupAvgMax = Math.max(...groupAvgPerMin);
  const groupPeakMax = Math.max(...groupPeakPerMin);
  say();
  say(
    `done: ${last.sent ?? 0}/${TOTAL} sent, ${deadRows?.n ?? 0} dead, ${last.pending ?? 0} pending` +
      `${timedOut ? ` — TIMED OUT after ${args['cap-seconds']} s` : ''}; end-to-end ${endToEndS.toFixed(1)} s ` +
      `(enqueue start → all rows sent); first message at the Bot API after ${f((firstAt - t0) / 1000)} s, ` +
      `last after ${f((lastAt - t0) / 1000, 1)} s`,
  );
  say(
    `per chat (all ${byChat.size} chats, (n−1)/span of each): p50 ${f(chatP50)} msgs/s, max ${f(chatMax)} msgs/s ` +
      `= ${pct(chatP50, LIMITS.chatPerSec)} / ${pct(chatMax, LIMITS.chatPerSec)} of Telegram's ${LIMITS.chatPerSec}/s ` +
      `(the bot's limiter: ${f(botPerChat)}/s = ${pct(botPerChat, LIMITS.chatPerSec)}); ` +
      `closest two in one chat: ${f(1000 / chatPeakMax, 0)} ms apart (${f(chatPeakMax)} msgs/s), ` +
      `${gapsUnder1s} gaps under 1 s`,
  );
  if (GROUPS > 0)
    say(
      `per group: most in any 60 s ${groupPeakMax} msgs = ${pct(groupPeakMax, LIMITS.groupPerMin)} of Telegram's ` +
        `${LIMITS.groupPerMin}/min (the bot's: ${f(botPerGroup, 1)}/min = ${pct(botPerGroup, LIMITS.groupPerMin)}); ` +
        `average over each group's span max ${f(groupAvgMax, 1)} msgs/min (bursts of 18, 62 s apart, can make it read above the bot's rate)`,
    );
  say(
    `overall: most in any 1 s ${overallPeak} msgs = ${pct(overallPeak, LIMITS.globalPerSec)} of Telegram's ` +
      `${LIMITS.globalPerSec}/s (the bot's: ${botGlobal}/s = ${pct(botGlobal, LIMITS.globalPerSec)}); ` +
      `${f(privatePhaseRate, 1)} msgs/s while private chats had messages (${pct(privatePhaseRate, LIMITS.globalPerSec)}), ` +
      `${f(overallAvg, 1)} msgs/s first to last message`,
  );
  say(`  sent per 10 s from the enqueue: ${perTenSeconds.join(', ')}`);
  say(
    `429s provoked: ${tooMany} (per chat ${refusedBy.chat}, per group ${refusedBy.group}, overall ${refusedBy.global}); ` +
      `goal 0 — ${tooMany === 0 ? 'met' : 'NOT met'}`,
  );
  say(
    `order within chats (at the proxy): ${outOfOrder} out of order, ${duplicates} duplicates, ${missing} missing` +
      `; the emulator received ${emulated.length} in ${emulatorOrderOk ? 'order' : 'WRONG ORDER'}`,
  );
  say(`enqueue commit → accepted by the Bot API: ${fmtLatency(latency)}`);
  say(
    `what bounds it: the bot's own limits allow ≥ ${f(boundS, 1)} s for this load (groups ${f(groupBoundS, 1)} s, ` +
      `overall ${f(globalBoundS, 1)} s, busiest chat ${f(chatBoundS, 1)} s); the drain took ${f(drainS, 1)} s ` +
      `(${pct(drainS, boundS)} of that)`,
  );
  say(
    `outbox job runs: ${jobRuns} for ${TOTAL} messages (${f(jobRuns / Math.max(1, TOTAL), 1)} per message): ` +
      `${calls.sent} sent, ${calls.limiterWait} told to wait by the limiter, ${calls.tooMany} got a 429, ` +
      `${calls.failed} failed, ${Math.max(0, jobRuns - calls.send)} waited for an earlier row of their chat (woken when it is sent, or re-checked after 2 s); ` +
      `${f(jobRuns / ((done - committed) / 1000), 0)} job runs/s`,
  );
  say(`CPU: ${fmtCpu(cpu)}`);
  if (timedOut || tooMany > 0 || outOfOrder > 0 || missing > 0 || (deadRows?.n ?? 0) > 0) exitCode = 1;

  finalJson('outbound', {
    at: new Date().toISOString(),
    messages: TOTAL,
    privateChats: PRIVATE,
    privateMessages: PRIVATE_MSGS,
    groups: GROUPS,
    groupMessages: GROUP_MSGS,
    concurrency: args.concurrency,
    sent: last.sent ?? 0,
    dead: deadRows?.n ?? 0,
    pending: last.pending ?? 0,
    timedOut,
    endToEndS: round(endToEndS, 1),
    enqueueS: round((committed - t0) / 1000, 2),
    firstSendS: round((firstAt - t0) / 1000, 2),
    lastSendS: round((lastAt - t0) / 1000, 1),
    boundS: round(boundS, 1),
    drainPctOfBound: round((drainS / boundS) * 100, 0),
    perChat: {
      p50PerSec: round(chatP50, 2),
      maxPerSec: round(chatMax, 2),
      peakPerSec: round(chatPeakMax, 2),
      limitPerSec: LIMITS.chatPerSec,
      p50PctOfLimit: round((chatP50 / LIMITS.chatPerSec) * 100, 0),
      maxPctOfLimit: round((chatMax / LIMITS.chatPerSec) * 100, 0),
      gapsUnder1s,
    },
    perGroup: {
      peakPer60s: groupPeakMax,
      avgPerMinMax: round(groupAvgMax, 1),
      limitPerMin: LIMITS.groupPerMin,
      peakPctOfLimit: round((groupPeakMax / LIMITS.groupPerMin) * 100, 0),
    },
    overall: {
      peakPer1s: overallPeak,
      privatePhasePerSec: round(privatePhaseRate, 1),
      avgPerSec: round(overallAvg, 1),
      limitPerSec: LIMITS.globalPerSec,
      peakPctOfLimit: round((overallPeak / LIMITS.globalPerSec) * 100, 0),
      privatePhasePctOfLimit: round((privatePhaseRate / LIMITS.globalPerSec) * 100, 0),
    },
    sentPer10s: perTenSeconds,
    tooManyRequests: { total: tooMany, ...refusedBy },
    order: { outOfOrder, duplicates, missing, emulatorReceived: emulated.length, emulatorOrderOk },
    latencyMs: rounded(latency, 0),
    jobRuns: {
      total: jobRuns,
      sent: calls.sent,
      limiterWait: calls.limiterWait,
      tooMany: calls.tooMany,
      failed: calls.failed,
      waitedForEarlier: Math.max(0, jobRuns - calls.send),
      perSec: round(jobRuns / ((done - committed) / 1000), 0),
    },
    cpu: { ...cpuFigures(cpu), cores: cpu.cores },
    limits: { telegram: LIMITS, bot: BOT },
    durationS: round((performance.now() - started) / 1000, 1),
  });
} catch (err) {
  console.error(`bench:outbound failed: ${(err as Error).stack ?? String(err)}`);
  exitCode = 1;
} finally {
  await bench.cleanup();
}
process.exit(exitCode);

/** The most timestamps (ascending) that fall within any window of `windowMs`. */
function peakInWindow(times: readonly number[], windowMs: number): number {
  let best = 0;
  let i = 0;
  for (let j = 0; j < times.length; j++) {
    while (times[j]! - times[i]! >= windowMs) i++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}

/** How many timestamps fall in each `size`-ms bucket after `from`, up to the last one. */
function bucketCounts(times: readonly number[], from: number, size: number): number[] {
  const counts: number[] = [];
  for (const t of times) {
    const b = Math.max(0, Math.floor((t - from) / size));
    while (counts.length <= b) counts.push(0);
    counts[b]!++;
  }
  return counts;
}
