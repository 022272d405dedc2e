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
 * - A transaction's client (and a savepoint's) is registered, so that code holding the transaction
 *   can send statements ahead of drizzle's (`sendNow`) and run a hook before each of its statements
 *   (`beforeEachStatement`).
 * - Once a transaction's connection is lost, its further statements fail at once instead of
 *   reaching the driver, and the end of its callback is not handed back to the driver either:
 *   postgres.js writes a statement given to a closed connection (the callback's next one, or its
 *   own COMMIT or ROLLBACK) from a timer, where the error cannot be caught and ends the process.
 */
export function wrapPool(sql: postgres.Sql, prepare: boolean): postgres.Sql {
  return wrap(sql, prepare, null);
}

/** The connection of a transaction, shared by its savepoints. */
interface Connection {
  /** Why the connection is gone, once it is. */
  lost: unknown;
  /** Set once the transaction's callback is over (the driver sends COMMIT or ROLLBACK next). */
  ended?: boolean;
}

interface TxState {
  target: postgres.TransactionSql;
  prepare: boolean;
  connection: Connection;
  before: (() => void) | null;
  /** Set while `before` runs, so the statements it sends do not call it again. */
  inHook: boolean;
}
/**
 * The key under which a transaction's client answers with its state (see `stateOf`). Not a WeakMap
 * from client to state: V8's young-generation collector keeps the value of every WeakMap entry
 * whose key is young, so each transaction's state, and all it leads to, would outlive two such
 * collections and be copied into the old generation. Measured with drizzle transactions of three
 * statements, 500 a second: 0.35 MB promoted by each collection against 0.06 MB without it, on a
 * driver changed so that its queries are not Promise subclasses, which otherwise hide it (README,
 * Performance).
 */
const TX_STATE = Symbol('transaction state');

function wrap<T extends postgres.Sql | postgres.TransactionSql>(
  sql: T,
  prepare: boolean,
  connection: Connection | null,
): T {
  const state: TxState | null = connection
    ? { target: sql as postgres.TransactionSql, prepare, connection, before: null, inHook: false }
    : null;
  const proxy = new Proxy(sql, {
    get(target, prop, receiver) {
      if (prop === TX_STATE) return state;
      if (prop === 'unsafe')
        return (query: string, args?: unknown[], options?: postgres.UnsafeQueryOptions) => {
          if (!state)
            return target.unsafe(
              query,
              args as postgres.ParameterOrJSON<never>[],
              prepare ? { ...options, prepare: true } : options,
            );
          if (state.before && !state.inHook) {
            state.inHook = true;
            try {
              state.before();
            } finally {
              state.inHook = false;
            }
          }
          return send(state, query, args, prepare ? { ...options, prepare: true } : options);
        };
      if (prop === 'begin' || prop === 'savepoint')
        return (...args: unknown[]) => {
          const fn = args.pop() as (tx: postgres.TransactionSql) => unknown;
          const open = Reflect.get(target, prop, receiver) as (...a: unknown[]) => Promise<unknown>;
          const conn: Connection = state?.connection ?? { lost: null };
          // A transaction's end, not a savepoint's: statements after it fail (see send).
          const end = (): void => {
            if (!state) conn.ended = true;
          };
          const opened = open(...args, (tx: postgres.TransactionSql) =>
            // On a lost connection the callback's end is not handed back: the driver would send
            // COMMIT or ROLLBACK on it. The caller has had the connection's error already.
            Promise.resolve(fn(wrap(tx, prepare, conn))).then(
              (value) => {
                end();
                return conn.lost ? never() : value;
              },
              (err: unknown) => {
                end();
                return conn.lost ? never() : Promise.reject(err);
              },
            ),
          );
          // The driver rejects the transaction when its connection closes, even while the
          // callback is between statements; the callback may still go on and issue more.
          opened.catch((err: unknown) => {
            if (isConnectionError(err)) conn.lost ??= err;
          });
          return opened;
        };
      return Reflect.get(target, prop, receiver);
    },
  });
  return proxy;
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
  // Handed to the driver, it would run on the connection after the COMMIT: outside any
  // transaction, or in someone else's once the connection is back in the pool.
  if (connection.ended) return failedQuery(new Error('statement issued after its transaction ended'));
  const q = state.target.unsafe(
    query,
    args as postgres.ParameterOrJSON<never>[],
    options,
  ) as unknown as postgres.PendingQuery<postgres.Row[]>;
  // Registered first, so it runs before the caller's own handling (which may issue the next
  // statement); it also hands the statement to the connection now, in the order of issue.
  q.catch((err: unknown) => {
    if (isConnectionError(err)) connection.lost ??= err;
  });
  return q;
}

/**
 * What a callback on a lost connection ends with: nothing, ever (see `wrap`). A new one each time,
 * so that it is collected with what waits on it.
 */
const never = () => new Promise<never>(() => {});

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
  const state = client && (client as { [TX_STATE]?: TxState })[TX_STATE];
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
