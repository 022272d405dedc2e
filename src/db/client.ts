import { fileURLToPath } from 'node:url';
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import * as schema from './schema/index.ts';

export type Db = PostgresJsDatabase<typeof schema>;
/** A transaction handle; functions that must run inside one take this type. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
/** Either: functions that work inside or outside a transaction. */
export type DbOrTx = Db | Tx;

export interface Database {
  url: string;
  db: Db;
  sql: postgres.Sql;
  close(): Promise<void>;
}

export const migrationsFolder = fileURLToPath(new URL('./migrations', import.meta.url));

/**
 * Opens a pool to PostgreSQL. Timestamps come back as Date, bigints as numbers where safe.
 * With `prepare` (the default), statements are prepared once per connection (see `wrapClient`);
 * turn it off behind a pooler in transaction mode (PgBouncer), which cannot keep them.
 */
export function connectDatabase(url: string, opts: { max?: number; prepare?: boolean } = {}): Database {
  const sql = postgres(url, {
    max: opts.max ?? 10,
    onnotice: () => {},
    connection: { application_name: 'gas-service-bot', TimeZone: 'UTC' },
  });
  const db = drizzle(wrapClient(sql, opts.prepare !== false), { schema });
  return { url, db, sql, close: () => sql.end({ timeout: 5 }) };
}

/** What the wrapper keeps for each transaction's client (see `beforeEachStatement` and `sendNow`). */
interface TxState {
  target: postgres.TransactionSql;
  prepare: boolean;
  before: (() => void) | null;
  /** Set while `before` runs, so the statements it sends do not call it again. */
  inHook: boolean;
}
const transactions = new WeakMap<object, TxState>();

/**
 * The pool as drizzle sees it.
 * - With `prepare`, every statement is prepared. drizzle sends its queries unnamed
 *   (`prepare: false`) unless each is given a name; postgres.js then parses and describes every
 *   statement with parameters in a round trip of its own before binding it. Prepared, a statement
 *   costs one round trip and is parsed once per connection. The driver keeps one entry per distinct
 *   statement text per connection, so statement texts must not vary with their data (lists go in one
 *   JSON parameter, see flows/engine/batch.ts); connections are recycled after 30-60 minutes.
 * - A transaction's client (and a savepoint's) is registered, so that code holding the transaction
 *   can send statements ahead of drizzle's (`sendNow`) and run a hook before each of its statements.
 */
function wrapClient<T extends postgres.Sql | postgres.TransactionSql>(sql: T, prepare: boolean): T {
  const state: TxState | null =
    'savepoint' in sql
      ? { target: sql as postgres.TransactionSql, prepare, before: null, inHook: false }
      : null;
  const proxy = new Proxy(sql, {
    get(target, prop, receiver) {
      if (prop === 'unsafe')
        return (query: string, args?: unknown[], options?: postgres.UnsafeQueryOptions) => {
          if (state?.before && !state.inHook) {
            state.inHook = true;
            try {
              state.before();
            } finally {
              state.inHook = false;
            }
          }
          return target.unsafe(
            query,
            args as postgres.ParameterOrJSON<never>[],
            prepare ? { ...options, prepare: true } : options,
          );
        };
      if (prop === 'begin' || prop === 'savepoint')
        return (...args: unknown[]) => {
          const fn = args.pop() as (tx: postgres.TransactionSql) => unknown;
          const open = Reflect.get(target, prop, receiver) as (...a: unknown[]) => unknown;
          return open(...args, (tx: postgres.TransactionSql) => fn(wrapClient(tx, prepare)));
        };
      return Reflect.get(target, prop, receiver);
    },
  });
  if (state) transactions.set(proxy, state);
  return proxy;
}

/** The registered client behind a drizzle transaction (drizzle keeps it as `session.client`). */
function stateOf(tx: Tx): TxState {
  const client = (tx as unknown as { session?: { client?: object } }).session?.client;
  const state = client && transactions.get(client);
  if (!state) throw new Error('not a transaction of a pool opened by connectDatabase');
  return state;
}

/**
 * Runs `hook` before each statement the transaction sends from now on, except those the hook
 * itself sends: a batch sends the writes it held back before anything else reaches the database.
 */
export function beforeEachStatement(tx: Tx, hook: () => void): void {
  stateOf(tx).before = hook;
}

const dialect = new PgDialect();

/**
 * Sends a statement on the transaction's connection at once, ahead of any statement issued after
 * this call (drizzle's queries reach the driver a microtask after they are awaited), and resolves
 * to the driver's rows. For writes that nobody waits for (see Batch: deferred statements), which
 * must still be in the database before whatever comes after them.
 */
export function sendNow<T extends Record<string, unknown>>(tx: Tx, query: SQL): Promise<T[]> {
  const state = stateOf(tx);
  const { sql: text, params } = dialect.sqlToQuery(query);
  // Straight to the driver (not through the wrapper, so not through the hook either); `execute`
  // hands it to the connection now rather than when first awaited.
  return state.target
    .unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: state.prepare })
    .execute() as unknown as Promise<T[]>;
}

// Any 64-bit number will do, as long as it is the same in every process of the bot.
const MIGRATION_LOCK = 7_415_003_117;

/**
 * Applies the committed migrations. Several processes may start at once (bot + workers), so
 * they queue on an advisory lock, held on one dedicated connection, instead of racing on DDL.
 */
export async function migrateDatabase(database: Pick<Database, 'url'>): Promise<void> {
  const sql = postgres(database.url, { max: 1, onnotice: () => {} });
  try {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK})`;
    await migrate(drizzle(sql, { schema }), { migrationsFolder });
  } finally {
    await sql.end({ timeout: 5 });
  }
}
