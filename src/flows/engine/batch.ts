import { getTableColumns, type SQL, type SQLWrapper, sql } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import { type DbOrTx, sendNow, type Tx } from '../../db/client.ts';

/**
 * A batch: several inbound messages (each of a different user and chat) handled concurrently in
 * one transaction. Their handlers run the same code as a single message; what they ask of the
 * database while every one of them waits is sent as one statement per kind (see `viaBatch` and
 * `Coalescer`), and the transaction commits once for all of them.
 *
 * Writes whose result no handler waits for (replies, dialogue state, audit events) are deferred:
 * the handler goes on at once, and the rows go out with the next round, or with the commit
 * (`finish`). A deferred write always reaches the database before any statement issued after it
 * (the transaction sends them first, see `sendDeferred`), so whatever reads afterwards sees it.
 *
 * Two rules keep concurrent handlers in one transaction correct:
 * - every message's dialogue is locked once, up front, for the whole transaction (`locked`);
 * - code that reads shared rows and then writes on what it read (staff actions on a case, the
 *   pick of an assignee, a leak joining an open alarm, one-time codes) runs under `exclusive`:
 *   one handler at a time, so each sees what the one before it wrote.
 */
export class Batch {
  /** The dialogue lock keys taken for this transaction. */
  readonly locked = new Set<string>();
  readonly #coalescers = new Map<string, Coalescer<unknown, unknown>>();
  #tail: Promise<void> = Promise.resolve();
  /** Handlers still running, and how many of them wait for a coalesced statement or the lock. */
  #active = 0;
  #waitingCalls = 0;
  #waitingLock = 0;
  #timer: NodeJS.Timeout | null = null;
  #maxWaitMs = 3;
  /** Deferred coalescers holding writes, in the order of their first held write. */
  #deferred: Coalescer<unknown, unknown>[] = [];
  /** The deferred writes sent so far (each already has a rejection handler; see `finish`). */
  readonly #sent: Promise<unknown>[] = [];
  #sending = false;

  /**
   * Runs the handlers concurrently. The coalesced statements go out when every running handler
   * waits for one (or for the exclusive lock): each round of the handlers is then one statement
   * per kind. A handler busy with something else for more than `maxWaitMs` does not hold the
   * others back longer.
   */
  run<T>(handlers: (() => Promise<T>)[], maxWaitMs = 3): Promise<PromiseSettledResult<T>[]> {
    this.#maxWaitMs = maxWaitMs;
    this.#active = handlers.length;
    const results: PromiseSettledResult<T>[] = new Array(handlers.length);
    return eachSettled(
      handlers.map((h) => h()),
      (i, fulfilled, x) => {
        results[i] = fulfilled ? { status: 'fulfilled', value: x as T } : { status: 'rejected', reason: x };
        this.#active--;
        this.#check();
      },
    ).then(() => results);
  }

  /** The coalescer of one kind of statement, created on first use. */
  coalescer<I, O>(
    name: string,
    run: (inputs: I[]) => Promise<O[]>,
    opts: CoalescerOptions = {},
  ): Coalescer<I, O> {
    let c = this.#coalescers.get(name);
    if (!c) {
      c = new Coalescer(run as (inputs: unknown[]) => Promise<unknown[]>, this, opts);
      this.#coalescers.set(name, c);
    }
    return c as Coalescer<I, O>;
  }

  /**
   * Runs parts of one handler side by side, each counted as a handler of its own while it runs
   * (a handler waiting on two calls at once would otherwise look like two handlers waiting and
   * send the round before the others have called). Waits for every part; the first failure is
   * thrown.
   */
  fork<T extends unknown[]>(parts: { [K in keyof T]: () => Promise<T[K]> }): Promise<T> {
    const n = parts.length;
    this.#active += n - 1;
    let finished = 0;
    return allSettledOrThrow<T>(
      parts.map((part) => part()),
      () => {
        // The last part to finish is the handler going on.
        if (++finished < n) {
          this.#active--;
          this.#check();
        }
      },
    );
  }

  /** A coalescer got a call (see Coalescer.call). */
  called(): void {
    this.#waitingCalls++;
    this.#timer ??= setTimeout(() => this.#flush(), this.#maxWaitMs);
    this.#check();
  }

  #check(): void {
    if (this.#waitingCalls > 0 && this.#waitingCalls + this.#waitingLock >= this.#active) this.#flush();
  }

  #flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#waitingCalls = 0;
    this.sendDeferred();
    for (const c of this.#coalescers.values()) if (!c.deferred) void c.flush();
  }

  /** A deferred coalescer holds its first write since it last sent. */
  deferredCalled(c: Coalescer<unknown, unknown>): void {
    this.#deferred.push(c);
  }

  /**
   * Sends the writes held back, each kind as one statement, in the order the kinds were first
   * written. The transaction calls this before each statement it sends (beforeEachStatement in
   * db/client.ts), so a deferred write is never overtaken by a statement issued after it.
   */
  sendDeferred(): void {
    if (this.#sending) return;
    this.#sending = true;
    try {
      for (let c = this.#deferred.shift(); c; c = this.#deferred.shift()) {
        const sent = c.flush();
        sent.catch(() => {}); // seen by finish()
        this.#sent.push(sent);
      }
    } finally {
      this.#sending = false;
    }
  }

  /**
   * Sends what is still held back and resolves once every deferred write is done; rejects with
   * the first that failed (the transaction is then aborted: its COMMIT rolls back). Called when
   * the handlers are done; the commit may be sent before this resolves, in the same round trip.
   */
  async finish(): Promise<void> {
    this.sendDeferred();
    const settled = await Promise.allSettled(this.#sent);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** The message whose handler runs an exclusive section now. */
  #holder: object | null = null;

  /**
   * Runs `fn` while no other handler of the batch runs an exclusive section. Re-entrant for the
   * same message (`owner`), so an exclusive section may call code that asks for one again.
   */
  async exclusive<T>(owner: object, fn: () => Promise<T>): Promise<T> {
    if (this.#holder === owner) return fn();
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise((resolve) => {
      release = resolve;
    });
    this.#waitingLock++;
    this.#check();
    await previous;
    this.#waitingLock--;
    this.#holder = owner;
    try {
      return await fn();
    } finally {
      this.#holder = null;
      release();
    }
  }
}

/**
 * Where a transaction keeps its batch: on the transaction object itself, under a key of this
 * module. Not a WeakMap from transaction to batch: V8's young-generation collector keeps the value
 * of every WeakMap entry whose key is young, so each batch would be copied by the next collection
 * after its transaction ended (measured as in db/transaction-client.ts: 0.20 MB kept by each
 * collection against 0.09 MB).
 */
const BATCH = Symbol('batch');
type InBatch = { [BATCH]?: Batch };

/** Marks a transaction as a batch's; its statements may then be coalesced. */
export function beginBatch(tx: object): Batch {
  const batch = new Batch();
  (tx as InBatch)[BATCH] = batch;
  return batch;
}

/** The batch a transaction belongs to, if it is one. */
export function batchOf(tx: object): Batch | undefined {
  return (tx as InBatch)[BATCH];
}

/**
 * Runs `fn` alone among the handlers of the transaction's batch (outside a batch there is nothing
 * to wait for: the transaction handles one message). The message identifies the handler.
 */
export function exclusive<T>(ctx: { tx: object; msg: object }, fn: () => Promise<T>): Promise<T> {
  const batch = batchOf(ctx.tx);
  return batch ? batch.exclusive(ctx.msg, fn) : fn();
}

/**
 * Runs independent parts of a handler side by side (counted right in a batch: see Batch.fork), so
 * their statements share a round trip. Waits for every part; the first failure is thrown.
 */
export function concurrently<T extends unknown[]>(
  tx: object,
  parts: { [K in keyof T]: () => Promise<T[K]> },
): Promise<T> {
  const batch = batchOf(tx);
  if (batch && parts.length > 1) return batch.fork<T>(parts);
  return allSettledOrThrow<T>(parts.map((part) => part()));
}

/**
 * Resolves once every promise has settled, calling `each` as each one does, with one reaction a
 * promise: Promise.allSettled, `finally` and async wrappers cost several more promises and closures
 * a part, and these run for every message of every batch (garbage-collection time; see README,
 * Performance).
 */
function eachSettled(
  promises: Promise<unknown>[],
  each: (i: number, fulfilled: boolean, valueOrReason: unknown) => void,
): Promise<void> {
  return new Promise((resolve) => {
    let left = promises.length;
    if (left === 0) resolve();
    promises.forEach((p, i) => {
      p.then(
        (value) => {
          each(i, true, value);
          if (--left === 0) resolve();
        },
        (reason: unknown) => {
          each(i, false, reason);
          if (--left === 0) resolve();
        },
      );
    });
  });
}

/**
 * Every value, once all have settled; else the first failure (in the order given). Unlike
 * Promise.all, no part is still running on the transaction when the caller goes on (to roll it
 * back, say). `onSettled` runs as each part settles.
 */
function allSettledOrThrow<T extends unknown[]>(
  promises: Promise<unknown>[],
  onSettled?: () => void,
): Promise<T> {
  const values = new Array(promises.length) as T;
  let failedAt = promises.length;
  let failure: unknown;
  return eachSettled(promises, (i, fulfilled, x) => {
    onSettled?.();
    if (fulfilled) values[i] = x;
    else if (i < failedAt) {
      failedAt = i;
      failure = x;
    }
  }).then(() => {
    if (failedAt < promises.length) throw failure;
    return values;
  });
}

/** What a deferred call's caller is told: nothing (see CoalescerOptions.deferred). */
const ignore = () => {};

export interface CoalescerOptions {
  /** Rounds run one after the other (each reads what the one before wrote). */
  serial?: boolean;
  /**
   * A write nobody waits for: `call` resolves at once (to undefined) and the input is sent with
   * the next round or the commit (see Batch). `run` must send its statements before its first
   * await (with `sendNow`), and its failure fails the batch.
   */
  deferred?: boolean;
}

/**
 * Gathers the calls of a batch's handlers and runs them as one when the batch says so: `run`
 * gets every input and returns one output per input, in order. A failure fails every call of
 * that round.
 */
export class Coalescer<I, O> {
  readonly #run: (inputs: I[]) => Promise<O[]>;
  readonly #batch: Batch;
  readonly #serial: boolean;
  readonly deferred: boolean;
  #previous: Promise<unknown> = Promise.resolve();
  #pending: { input: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];

  constructor(run: (inputs: I[]) => Promise<O[]>, batch: Batch, opts: CoalescerOptions = {}) {
    this.#run = run;
    this.#batch = batch;
    this.#serial = opts.serial ?? false;
    this.deferred = opts.deferred ?? false;
  }

  call(input: I): Promise<O> {
    if (this.deferred) {
      if (this.#pending.length === 0) this.#batch.deferredCalled(this as Coalescer<unknown, unknown>);
      this.#pending.push({ input, resolve: ignore, reject: ignore });
      return Promise.resolve(undefined as O);
    }
    return new Promise<O>((resolve, reject) => {
      this.#pending.push({ input, resolve, reject });
      this.#batch.called();
    });
  }

  /** Sends the calls gathered so far as one statement; rejects if it failed. */
  async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const calls = this.#pending;
    this.#pending = [];
    const inputs = calls.map((c) => c.input);
    let round: Promise<O[]>;
    if (this.#serial) {
      round = this.#previous.then(() => this.#run(inputs));
      this.#previous = round.catch(() => {});
    } else round = this.#run(inputs);
    try {
      const outputs = await round;
      calls.forEach((c, i) => {
        c.resolve(outputs[i] as O);
      });
    } catch (err) {
      for (const c of calls) c.reject(err);
      if (this.deferred) throw err;
    }
  }
}

/** Splits inputs into rounds in which no key appears twice (one statement per round). */
export function distinctRounds<T>(items: T[], key: (item: T) => string): T[][] {
  const rounds: { keys: Set<string>; items: T[] }[] = [];
  for (const item of items) {
    const k = key(item);
    let round = rounds.find((r) => !r.keys.has(k));
    if (!round) {
      round = { keys: new Set(), items: [] };
      rounds.push(round);
    }
    round.keys.add(k);
    round.items.push(item);
  }
  return rounds.map((r) => r.items);
}

/**
 * One call of a statement that a batch may send for many callers at once: `many` gets every
 * input of the round and returns one output per input, in order. Outside a batch it runs for
 * the one input. In a batch the first caller's `many` serves every call of that `name`, so it
 * may use only what all handlers share (the transaction, the batch's `now`): anything particular
 * to a caller goes in its input.
 */
export function viaBatch<I, O>(
  tx: object,
  name: string,
  input: I,
  many: (inputs: I[]) => Promise<O[]>,
  opts: CoalescerOptions = {},
): Promise<O> {
  // Not an async function: called many times for every message, and its own promise would only wrap these.
  const batch = batchOf(tx);
  if (batch) return batch.coalescer(name, many, opts).call(input);
  return many([input]).then((outputs) => outputs[0] as O);
}

/**
 * Runs a raw statement and resolves to its rows. In a batch it is sent at once on the
 * transaction's connection (what a deferred write needs: see CoalescerOptions.deferred); elsewhere
 * it is an ordinary `execute`.
 */
export function sendStatement<T extends Record<string, unknown>>(tx: DbOrTx, query: SQL): Promise<T[]> {
  if (batchOf(tx)) return sendNow<T>(tx as Tx, query);
  return tx.execute<T>(query).then((rows) => [...rows] as T[]);
}

/** Groups rows by a key, in the order of `keys` (a helper for `viaBatch` readers). */
export function groupedBy<K, R>(keys: K[], rows: R[], keyOf: (row: R) => K): R[][] {
  const groups = new Map<K, R[]>();
  for (const r of rows) {
    const k = keyOf(r);
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  return keys.map((k) => groups.get(k) ?? []);
}

/**
 * `column in (…values)` with the values as one JSON parameter: the statement's text is the same
 * for any number of values, so PostgreSQL and the driver prepare it once (an `in ($1, $2, …)`
 * list is a new statement for every length, and costs a round trip to prepare each time).
 * Written as `= any(array(…))`, the list is an array computed first and the column's index is
 * used for it: as `in (select …)` the planner, taking the list for 100 rows, may scan a whole
 * mid-sized table to hash-join a handful of values.
 */
export function inJson(
  column: SQLWrapper,
  values: (string | number)[],
  type: 'text' | 'int' | 'bigint',
): SQL {
  return sql`${column} = any(array(select value::${sql.raw(type)} from json_array_elements_text(${JSON.stringify(values)}::json)))`;
}

/** Each table's columns as [property, column] pairs, listed once (rowOf runs for every row). */
const columnsOf = new WeakMap<PgTable, [string, PgColumn][]>();

/** A row returned by a hand-written statement (`returning *`), mapped as drizzle maps its own. */
export function rowOf<T extends PgTable>(table: T, raw: Record<string, unknown>): T['$inferSelect'] {
  let columns = columnsOf.get(table);
  if (!columns) {
    columns = Object.entries(getTableColumns(table));
    columnsOf.set(table, columns);
  }
  const out: Record<string, unknown> = {};
  for (const [key, column] of columns) {
    const value = raw[column.name];
    out[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return out as T['$inferSelect'];
}

/**
 * `select * from table where … [order by …]` as a raw statement, its rows mapped as drizzle maps
 * its own. For the statements a batch sends every round: drizzle's query builder costs about
 * 0.1 ms a statement on a small machine, a raw statement about 1 µs (and in a batch the statement
 * goes straight to the driver, see sendStatement).
 */
export async function selectFrom<T extends PgTable>(
  tx: DbOrTx,
  table: T,
  where: SQL,
  orderBy?: SQL,
): Promise<T['$inferSelect'][]> {
  const rows = await sendStatement(
    tx,
    orderBy
      ? sql`select * from ${table} where ${where} order by ${orderBy}`
      : sql`select * from ${table} where ${where}`,
  );
  return rows.map((r) => rowOf(table, r));
}

/**
 * `select * from table where column = any(ids)`, as one look-up per id (see eachKey), rows
 * mapped as drizzle maps its own, in the order of `ids` (each id once). The planner weighs one
 * index look-up against one scan of the table per id, and takes the index from a few pages on.
 * As a filter over the list (`inJson`) it weighs ten look-ups against one scan, and scans tables
 * of up to about a thousand rows, comparing each row with every id; a prepared statement keeps
 * that plan while the table grows, until the table is analyzed again. With a batch's dozens of
 * ids over the tables of a young database, that filter was the busiest code in PostgreSQL.
 */
export async function selectByIds<T extends PgTable>(
  tx: DbOrTx,
  table: T,
  column: PgColumn,
  ids: (string | number)[],
  type: 'text' | 'int' | 'bigint',
): Promise<T['$inferSelect'][]> {
  const keys = [...new Set(ids)].map((id) => [String(id)]);
  const rows = await sendStatement(
    tx,
    sql`select x.* from ${eachKey(keys, sql`select * from ${table} where ${column} = (k->>0)::${sql.raw(type)}`)}`,
  );
  return rows.map((r) => rowOf(table, r));
}

/**
 * `select * from json_to_recordset(rows) as r(columns)`, for an update that joins its target on
 * the rows' keys, with the number of rows as a `limit` parameter. PostgreSQL takes a JSON function
 * for 100 rows but a prepared `limit $n` for 10, so past a few thousand rows in the target the
 * join is an index look-up per row instead of a hash join over a scan of the whole table. (A list
 * filter, `id = any(…)`, is worse for a small table: every row is compared with every key. A
 * look-up by `ctid` would be exact, but an update by `ctid` misses a row that another transaction
 * updated meanwhile, where a join on the key finds its new version.)
 */
export function rowsOf(rows: object[], columns: SQL): SQL {
  return sql`select * from json_to_recordset(${JSON.stringify(rows)}::json) as r(${columns}) limit ${rows.length}`;
}

/**
 * For an insert of several rows that must know which row got which id: the CTEs `drawn` and `ids`
 * give row `n` of the CTE `input` (numbered from 1, `with ordinality`) an id of `table`'s own
 * sequence, drawn first, the n-th smallest to the n-th row, so the ids ascend in input order. The
 * insert takes `ids.id` (`overriding system value`) from `input join ids using (n)`, `order by n`,
 * and the statement returns `n` by joining what it inserted back to `ids` `using (id)`. No order of
 * RETURNING or of evaluation is relied on.
 */
export function drawnIds(table: string): SQL {
  if (!/^[a-z_]+$/.test(table)) throw new Error(`not a table name: ${table}`);
  return sql.raw(`drawn as (select nextval(pg_get_serial_sequence('${table}', 'id')) as id from input),
    ids as (select id, row_number() over (order by id) as n from drawn)`);
}

/** `(a, b) in (…pairs)` with the pairs as one JSON parameter (a fixed statement text, like inJson). */
export function pairsInJson(a: SQLWrapper, b: SQLWrapper, pairs: [string, string][]): SQL {
  return sql`(${a}, ${b}) in (select p->>0, p->>1 from json_array_elements(${JSON.stringify(pairs)}::json) as p)`;
}

/**
 * `json_array_elements(keys) as k, lateral (lookup offset 0) as x`: `lookup` runs once per key,
 * reading the key's parts as `k->>0`, `k->>1`, …, so each is an index look-up whatever the size
 * of the table. (`(a, b) in (…keys)` is a semi join that the planner, taking the list for 100
 * rows, may run as a scan of the whole table; `offset 0` keeps it from flattening the lateral
 * into such a join.) Select from it `x.*` or the lookup's columns.
 */
export function eachKey(keys: string[][], lookup: SQL): SQL {
  return sql`json_array_elements(${JSON.stringify(keys)}::json) as k, lateral (${lookup} offset 0) as x`;
}

/** A map key for a pair of strings (channel and an id), as the rows of `pairsInJson` are matched. */
export const pairKey = (a: string, b: string) => `${a}\u0000${b}`;
