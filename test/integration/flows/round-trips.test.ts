import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/flows/clock.ts';
import { FAULT, webMessage } from '../../fixtures/fault-dialogue.ts';
import { startTestBot, type TestBot } from '../../fixtures/harness.ts';
import { twoTeamPolicy } from '../../fixtures/policy.ts';

// How many times a message waits for PostgreSQL: on a machine where a round trip costs more CPU
// than most statements, this is what the inbound path is built around (README: Performance).
// A round trip is counted when the bot writes to a PostgreSQL connection after that connection
// last received something: writes in between go out together, before any answer.

const PG_PORT = Number(new URL(process.env.TEST_DATABASE_URL ?? 'postgres://h:5432/d').port || 5432);
const clock = new ManualClock('2026-11-23T10:00:00+08:00'); // Monday: the repair team is on duty
let bot: TestBot;
let roundTrips = 0;
const answered = new WeakMap<net.Socket, boolean>();
const write = net.Socket.prototype.write;

beforeAll(async () => {
  net.Socket.prototype.write = function (this: net.Socket, ...args: unknown[]) {
    if (this.remotePort === PG_PORT) {
      if (!answered.has(this)) this.on('data', () => answered.set(this, true));
      if (answered.get(this) !== false) roundTrips++;
      answered.set(this, false);
    }
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof write;
  bot = await startTestBot({ clock, policy: twoTeamPolicy() });
});
afterAll(async () => {
  net.Socket.prototype.write = write;
  await bot?.close();
});

/** Walks a customer through the fault dialogue, one message at a time: round trips per step. */
async function walk(user: string): Promise<number[]> {
  const perStep: number[] = [];
  for (const [step, body] of FAULT.entries()) {
    const before = roundTrips;
    await bot.pipeline.receiveAndProcess(webMessage(user, `${user}-${step}`, body));
    perStep.push(roundTrips - before);
  }
  return perStep;
}

describe('round trips to PostgreSQL per message', () => {
  it('a dialogue step is three (BEGIN, the reads, the writes with the COMMIT); naming the customer adds one; opening a repair case four', async () => {
    await walk('warm-up'); // the pool's connections are opened and their statements prepared
    expect(await walk('counted')).toEqual([3, 4, 3, 3, 3, 3, 3, 4]);
  });
});
