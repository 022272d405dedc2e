import { describe, expect, it } from 'vitest';
import {
  beginBatch,
  concurrently,
  distinctRounds,
  exclusive,
  groupedBy,
  viaBatch,
} from '../../../src/flows/engine/batch.ts';

const tick = () => new Promise((r) => setImmediate(r));

describe('batch helpers', () => {
  it('distinctRounds keeps each key once per round and in order', () => {
    const rounds = distinctRounds(['a1', 'b1', 'a2', 'a3', 'b2'], (s) => s[0]!);
    expect(rounds).toEqual([['a1', 'b1'], ['a2', 'b2'], ['a3']]);
  });

  it('groupedBy returns one group per key, empty where nothing matched', () => {
    expect(groupedBy([1, 2, 3], [{ k: 3 }, { k: 1 }, { k: 3 }], (r) => r.k)).toEqual([
      [{ k: 1 }],
      [],
      [{ k: 3 }, { k: 3 }],
    ]);
  });

  it('calls of the running handlers go out as one round once every handler waits', async () => {
    const tx = {};
    const batch = beginBatch(tx);
    const rounds: number[][] = [];
    const double = (n: number) =>
      viaBatch(tx, 'double', n, async (all: number[]) => {
        rounds.push(all);
        return all.map((x) => x * 2);
      });
    const results = await batch.run(
      [1, 2, 3].map((n) => async () => (await double(n)) + (await double(n * 10))),
    );
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : null))).toEqual([22, 44, 66]);
    expect(rounds).toEqual([
      [1, 2, 3],
      [10, 20, 30],
    ]);
  });

  it("a handler's concurrent parts share the round with the other handlers' calls", async () => {
    const tx = {};
    const batch = beginBatch(tx);
    const rounds: string[][] = [];
    const echo = (s: string) =>
      viaBatch(tx, 'echo', s, async (all: string[]) => {
        rounds.push(all);
        return all;
      });
    const results = await batch.run([
      async () => {
        // Two parts at once, one of them two calls deep: not sent before the other handler calls.
        const [a, b] = await concurrently<[string, string]>(tx, [
          () => echo('a1'),
          async () => (await echo('b1')) + (await echo('b2')),
        ]);
        return a + b + (await echo('c1'));
      },
      async () => {
        await tick();
        return (await echo('x1')) + (await echo('x2'));
      },
    ]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : null))).toEqual(['a1b1b2c1', 'x1x2']);
    expect(rounds).toEqual([['a1', 'b1', 'x1'], ['b2', 'x2'], ['c1']]);
  });

  it('a failing part fails the handler once every part is done', async () => {
    const tx = {};
    const batch = beginBatch(tx);
    let otherDone = false;
    const [result] = await batch.run([
      () =>
        concurrently(tx, [
          async () => {
            throw new Error('boom');
          },
          async () => {
            await tick();
            otherDone = true;
          },
        ]),
    ]);
    expect(result).toMatchObject({ status: 'rejected', reason: new Error('boom') });
    expect(otherDone).toBe(true);
  });

  it('a deferred write lets its handler go on at once, and goes out before the next round or at finish', async () => {
    const tx = {};
    const batch = beginBatch(tx);
    const sent: string[] = [];
    const write = (s: string) =>
      viaBatch(
        tx,
        'write',
        s,
        async (all: string[]) => {
          sent.push(`write ${all.join(',')}`);
          return all.map(() => undefined);
        },
        { deferred: true },
      );
    const read = (s: string) =>
      viaBatch(tx, 'read', s, async (all: string[]) => {
        sent.push(`read ${all.join(',')}`);
        return all;
      });
    await batch.run([
      async () => {
        await write('a1');
        expect(sent).toEqual([]); // held back: nothing went out, the handler goes on
        await read('a2');
        await write('a3');
      },
      async () => {
        await write('b1');
        await read('b2');
      },
    ]);
    // The writes held before the round go out first, in one statement; the last one waits for finish.
    expect(sent).toEqual(['write a1,b1', 'read a2,b2']);
    await batch.finish();
    expect(sent).toEqual(['write a1,b1', 'read a2,b2', 'write a3']);
  });

  it("finish rejects with a deferred write's failure", async () => {
    const tx = {};
    const batch = beginBatch(tx);
    await batch.run([
      () =>
        viaBatch(
          tx,
          'write',
          1,
          async () => {
            throw new Error('constraint');
          },
          { deferred: true },
        ),
    ]);
    await expect(batch.finish()).rejects.toThrow('constraint');
  });

  it('outside a batch a call runs on its own', async () => {
    const seen: number[][] = [];
    const out = await viaBatch({}, 'one', 7, async (all: number[]) => {
      seen.push(all);
      return all;
    });
    expect(out).toBe(7);
    expect(seen).toEqual([[7]]);
  });

  it('exclusive sections of a batch never overlap, and one may re-enter its own', async () => {
    const tx = {};
    const batch = beginBatch(tx);
    let inside = 0;
    let most = 0;
    const section = async (msg: object) => {
      inside++;
      most = Math.max(most, inside);
      await tick();
      // Re-entering from within the same message's section does not wait for itself.
      await exclusive({ tx, msg }, async () => tick());
      inside--;
    };
    await batch.run([{}, {}, {}].map((msg) => () => exclusive({ tx, msg }, () => section(msg))));
    expect(most).toBe(1);
  });
});
