import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import postgres from 'postgres';

/**
 * The postgres.js pool as drizzle sees it, and what it adds to every transaction.
 *
 * - With `prepare`, every statement is prepared. drizzle sends its queries unnamed
 *   (`prepare: false`) unless each is given a name; postgres.js then parses and describes every
 *   statement with parameters in a round trip of its own before binding it. Prepared, a statement
 *   costs one round trip and is parsed once per connection. The driver keeps one entry per distinct
 *   statement text per connection, so statement texts must not vary with their data (lists go in one
 *   JSON parameter, see flows/engine/batch.ts); connections are recycled after 30-60 minutes.
 * - A transaction's BEGIN goes out with its first statements, in the same round trip: the
 *   transaction is run here on a reserved connection (`runTransaction`), where the driver's own
 *   `begin` waits for BEGIN's answer before it runs the callback. Savepoints are run here too.
 * - A transaction's client (and a savepoint's) is registered, so that code holding the transaction
 *   can send statements ahead of drizzle's (`sendNow`) and run a hook before each of its statements
 *   (`beforeEachStatement`).
 * - Once a transaction's connection is lost, its further statements fail at once instead of
 *   reaching the driver, nothing more is sent on it (no ROLLBACK), and it is not given back to the
 *   pool: postgres.js writes a statement given to a closed connection from a timer, where the error
 *   cannot be caught and ends the process, and a closed connection given back would be reused.
 */
export function wrapPool(sql: postgres.Sql, prepare: boolean): postgres.Sql {
  return wrap(sql, prepare);
}

/** The connection of a transaction, shared by its savepoints. */
interface Connection {
  /** Why the connection is gone, once it is. */
  lost: unknown;
  /** Rejects once the connection is lost (the transaction's callers learn it at once). */
  whenLost: Promise<never>;
  markLost(err: unknown): void;
  /** Savepoints opened so far (their names). */
  savepoints: number;
  /** Set once COMMIT or ROLLBACK is sent: a statement issued after that fails. */
  ended: boolean;
}

/** What postgres.js's `onexecute` option is given: the connection a statement is handed to. */
interface DriverConnection {
  onclose?: ((err: unknown) => void) | null;
}

/** A transaction or a savepoint: the first failure of a statement it sent. */
interface Scope {
  failed: unknown;
}

interface TxState {
  target: postgres.ReservedSql;
  prepare: boolean;
  connection: Connection;
  scope: Scope;
  before: (() => void) | null;
  /** Set while `before` runs, so the statements it sends do not call it again. */
  inHook: boolean;
}
const transactions = new WeakMap<object, TxState>();

function wrap(sql: postgres.Sql, prepare: boolean): postgres.Sql {
  return new Proxy(sql, {
    get(target, prop, receiver) {
      if (prop === 'unsafe')
        return (query: string, args?: unknown[], options?: postgres.UnsafeQueryOptions) =>
          target.unsafe(
            query,
            args as postgres.ParameterOrJSON<never>[],
            prepare ? { ...options, prepare: true } : options,
          );
      if (prop === 'begin')
        return (...args: unknown[]) => {
          const fn = args.pop() as (tx: postgres.TransactionSql) => unknown;
          const options = typeof args[0] === 'string' ? args[0] : '';
          return runTransaction(target, prepare, options, fn);
        };
      return Reflect.get(target, prop, receiver);
    },
  });
}

/** The client a transaction's (or a savepoint's) callback gets: its statements go through `send`. */
function transactionClient(state: TxState): postgres.TransactionSql {
  const proxy = new Proxy(state.target, {
    get(target, prop, receiver) {
      if (prop === 'unsafe')
        return (query: string, args?: unknown[], options?: postgres.UnsafeQueryOptions) => {
          if (state.before && !state.inHook) {
            state.inHook = true;
            try {
              state.before();
            } finally {
              state.inHook = false;
            }
          }
          return send(state, query, args, state.prepare ? { ...options, prepare: true } : options);
        };
      if (prop === 'savepoint')
        return (...args: unknown[]) =>
          runSavepoint(state, args.pop() as (tx: postgres.TransactionSql) => unknown);
      if (prop === 'begin' || prop === 'reserve' || prop === 'release' || prop === 'end')
        return () => {
          throw new Error(`${String(prop)} is not available inside a transaction`);
        };
      return Reflect.get(target, prop, receiver);
    },
  }) as unknown as postgres.TransactionSql;
  transactions.set(proxy, state);
  return proxy;
}

/**
 * Runs `fn` in a transaction on a connection reserved from the pool. BEGIN is handed to the
 * connection first and the callback runs at once, so BEGIN and the callback's first statements go
 * out together. Commits when the callback succeeds and none of its statements failed (a failed
 * statement aborts the transaction even if the callback went on: its error is thrown, as the
 * driver's own `begin` does); else rolls back and throws. A COMMIT that PostgreSQL answers with
 * ROLLBACK (a statement sent with it failed) throws too.
 */
async function runTransaction(
  pool: postgres.Sql,
  prepare: boolean,
  options: string,
  fn: (tx: postgres.TransactionSql) => unknown,
): Promise<unknown> {
  const reserved = await pool.reserve();
  let fail!: (err: unknown) => void;
  const whenLost = new Promise<never>((_, reject) => {
    fail = reject;
  });
  whenLost.catch(() => {});
  const connection: Connection = {
    lost: null,
    whenLost,
    savepoints: 0,
    ended: false,
    markLost(err) {
      if (connection.lost) return;
      connection.lost = err;
      fail(err);
    },
  };
  const scope: Scope = { failed: null };
  const state: TxState = { target: reserved, prepare, connection, scope, before: null, inHook: false };
  const driver: { connection: DriverConnection | null } = { connection: null };
  const beginOptions = {
    // Called as BEGIN is handed to the connection. The driver calls the connection's `onclose`
    // when it closes, even with no statement in flight. Returning true lets the statements after
    // BEGIN go out without waiting for its answer.
    onexecute(c: DriverConnection) {
      driver.connection = c;
      c.onclose = (err) => connection.markLost(err ?? new Error('connection closed'));
      return true;
    },
  };
  const begin = reserved.unsafe(
    `begin ${options.replace(/[^a-z ]/gi, '')}`,
    [],
    beginOptions as postgres.UnsafeQueryOptions,
  );
  track(state, begin);
  try {
    const result = await Promise.race([Promise.resolve().then(() => fn(transactionClient(state))), whenLost]);
    if (scope.failed) throw scope.failed;
    const commit = send(state, 'commit', [], {});
    connection.ended = true;
    const committed = await commit;
    if ((committed as unknown as { command?: string }).command === 'ROLLBACK')
      throw scope.failed ?? new Error('the transaction was rolled back at COMMIT');
    return result;
  } catch (err) {
    if (connection.lost) throw connection.lost;
    if (!connection.ended) {
      const rollback = send(state, 'rollback', [], {});
      connection.ended = true;
      await rollback.catch(() => {});
    }
    throw abortedBy(err, scope);
  } finally {
    connection.ended = true;
    // A lost connection is not given back: the driver reconnects it for others.
    if (!connection.lost) {
      if (driver.connection) driver.connection.onclose = null;
      reserved.release();
    }
  }
}

/** A savepoint in a transaction: released when `fn` succeeds, rolled back to when it fails. */
async function runSavepoint(parent: TxState, fn: (tx: postgres.TransactionSql) => unknown): Promise<unknown> {
  const { connection } = parent;
  const name = `s${++connection.savepoints}`;
  await send(parent, `savepoint ${name}`, [], {});
  const scope: Scope = { failed: null };
  const state: TxState = { ...parent, scope, before: null, inHook: false };
  try {
    const result = await Promise.race([fn(transactionClient(state)), connection.whenLost]);
    if (scope.failed) throw scope.failed;
    await send(parent, `release savepoint ${name}`, [], {});
    return result;
  } catch (err) {
    if (connection.lost) throw connection.lost;
    await send(parent, `rollback to savepoint ${name}`, [], {});
    throw abortedBy(err, scope);
  }
}

/**
 * What a failed transaction throws: "current transaction is aborted" says only that an earlier
 * statement failed; that statement's error says why.
 */
function abortedBy(err: unknown, scope: Scope): unknown {
  return err instanceof postgres.PostgresError && err.code === '25P02' && scope.failed ? scope.failed : err;
}

/** A statement of a transaction: to the driver, or failed at once if the connection is gone. */
function send(
  state: TxState,
  query: string,
  args: unknown[] | undefined,
  options: postgres.UnsafeQueryOptions | undefined,
): postgres.PendingQuery<postgres.Row[]> {
  const { connection } = state;
  if (connection.lost) return failedQuery(connection.lost);
  // Not on a connection given back to the pool, nor in autocommit after the ROLLBACK.
  if (connection.ended) return failedQuery(new Error('statement issued after its transaction ended'));
  const q = state.target.unsafe(
    query,
    args as postgres.ParameterOrJSON<never>[],
    options,
  ) as unknown as postgres.PendingQuery<postgres.Row[]>;
  track(state, q);
  return q;
}

/**
 * Watches a statement: a failure is the scope's (the transaction is aborted), a connection error
 * is the connection's. Registered first, so it runs before the caller's own handling (which may
 * issue the next statement); it also hands the statement to the connection now, in the order of
 * issue.
 */
function track(state: TxState, q: Promise<unknown>): void {
  q.catch((err: unknown) => {
    state.scope.failed ??= err;
    if (isConnectionError(err)) state.connection.markLost(err);
  });
}

/**
 * Errors of the connection: the driver's own (CONNECTION_CLOSED, CONNECTION_ENDED, …) and the
 * socket's (ECONNRESET, …) carry `errno`; a statement's error from the server and an error the
 * callback throws do not.
 */
function isConnectionError(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    !(err instanceof postgres.PostgresError) &&
    (err as { errno?: unknown }).errno !== undefined
  );
}

/** A query that has failed already, shaped as the driver's (drizzle calls `values()` on it). */
function failedQuery(err: unknown): postgres.PendingQuery<postgres.Row[]> {
  const p = Promise.reject(err);
  p.catch(() => {});
  return Object.assign(p, {
    values: () => p,
    raw: () => p,
    execute: () => p,
  }) as unknown as postgres.PendingQuery<postgres.Row[]>;
}

/** The registered client behind a drizzle transaction (drizzle keeps it as `session.client`). */
function stateOf(tx: object): TxState {
  const client = (tx as { session?: { client?: object } }).session?.client;
  const state = client && transactions.get(client);
  if (!state) throw new Error('not a transaction of a pool opened by connectDatabase');
  return state;
}

/**
 * Runs `hook` before each statement the transaction sends from now on, except those the hook
 * itself sends: a batch sends the writes it held back before anything else reaches the database.
 */
export function beforeEachStatement(tx: object, hook: () => void): void {
  stateOf(tx).before = hook;
}

const dialect = new PgDialect();

/**
 * Sends a statement on the transaction's connection at once, ahead of any statement issued after
 * this call (drizzle's queries reach the driver a microtask after they are awaited), and resolves
 * to the driver's rows. For writes that nobody waits for (see Batch: deferred statements), which
 * must still be in the database before whatever comes after them. It does not run the hook.
 */
export function sendNow<T extends Record<string, unknown>>(tx: object, query: SQL): Promise<T[]> {
  const state = stateOf(tx);
  const { sql: text, params } = dialect.sqlToQuery(query);
  return send(state, text, params, { prepare: state.prepare }) as unknown as Promise<T[]>;
}
