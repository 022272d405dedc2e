import { fileURLToPath } from 'node:url';
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
 * With `prepare` (the default), statements are prepared once per connection (see `preparing`);
 * turn it off behind a pooler in transaction mode (PgBouncer), which cannot keep them.
 */
export function connectDatabase(url: string, opts: { max?: number; prepare?: boolean } = {}): Database {
  const sql = postgres(url, {
    max: opts.max ?? 10,
    onnotice: () => {},
    connection: { application_name: 'gas-service-bot', TimeZone: 'UTC' },
  });
  const db = drizzle(opts.prepare === false ? sql : preparing(sql), { schema });
  return { url, db, sql, close: () => sql.end({ timeout: 5 }) };
}

/**
 * The pool as drizzle sees it, with every statement prepared. drizzle sends its queries unnamed
 * (`prepare: false`) unless each is given a name; postgres.js then parses and describes every
 * statement with parameters in a round trip of its own before binding it. Prepared, a statement
 * costs one round trip and is parsed once per connection. The driver keeps one entry per distinct
 * statement text per connection, so statement texts must not vary with their data (lists go in one
 * JSON parameter, see flows/engine/batch.ts); connections are recycled after 30-60 minutes.
 */
function preparing<T extends postgres.Sql | postgres.TransactionSql>(sql: T): T {
  return new Proxy(sql, {
    get(target, prop, receiver) {
      if (prop === 'unsafe')
        return (query: string, args?: unknown[], options?: postgres.UnsafeQueryOptions) =>
          target.unsafe(query, args as postgres.ParameterOrJSON<never>[], { ...options, prepare: true });
      if (prop === 'begin' || prop === 'savepoint')
        return (...args: unknown[]) => {
          const fn = args.pop() as (tx: postgres.TransactionSql) => unknown;
          const open = Reflect.get(target, prop, receiver) as (...a: unknown[]) => unknown;
          return open(...args, (tx: postgres.TransactionSql) => fn(preparing(tx)));
        };
      return Reflect.get(target, prop, receiver);
    },
  });
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
