import { fileURLToPath } from 'node:url';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import type { Logger } from '../log.ts';
import * as schema from './schema/index.ts';
import { wrapPool } from './transaction-client.ts';

export { beforeEachStatement, sendNow } from './transaction-client.ts';

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
 * With `prepare` (the default), statements are prepared once per connection (see `wrapPool`);
 * turn it off behind a pooler in transaction mode (PgBouncer), which cannot keep them.
 */
export function connectDatabase(url: string, opts: { max?: number; prepare?: boolean } = {}): Database {
  const sql = postgres(url, {
    max: opts.max ?? 10,
    onnotice: () => {},
    connection: { application_name: 'gas-service-bot', TimeZone: 'UTC' },
  });
  const db = drizzle(wrapPool(sql, opts.prepare !== false), { schema });
  return { url, db, sql, close: () => sql.end({ timeout: 5 }) };
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

/**
 * Whether the driver carries patches/postgres+3.4.9.patch (applied by `patch-package` after every
 * `npm install`/`npm ci`, all of it or none): its queries hold a plain promise instead of extending
 * Promise, for V8's scavenger kept every awaited Promise-subclass query, and all it reached, until
 * a full collection; and a turn of the event loop's writes go out in one system call (README,
 * Performance). The first change stands for the patch. Without it the bot works the same with more
 * garbage-collection time and system calls, so this only warns. The query is built, never sent.
 */
export function checkDriverPatch(sql: Pick<postgres.Sql, 'unsafe'>, log: Logger): boolean {
  const patched = !(sql.unsafe('select 1') instanceof Promise);
  if (!patched)
    log.warn(
      'postgres.js is not patched (patches/ was not applied, e.g. an install with --ignore-scripts): run `npx patch-package`; the bot works, with more garbage-collection pauses and system calls',
    );
  return patched;
}

/**
 * Warns when PostgreSQL's autovacuum is off. Every dialogue step rewrites a row, so without it dead
 * row versions pile up and each message costs more; and a prepared statement keeps the plan made
 * from the statistics of its day, which autovacuum's analyze renews as the tables grow (with it off,
 * one manual VACUUM of a still-small table once left customer look-ups scanning the whole table).
 * Returns the setting, or null when it cannot be read.
 */
export async function checkAutovacuum(
  sql: Pick<postgres.Sql, 'unsafe'>,
  log: Logger,
): Promise<string | null> {
  let setting: unknown;
  try {
    const rows = await sql.unsafe('show autovacuum');
    setting = rows[0]?.autovacuum;
  } catch (error) {
    log.info(`Cannot read PostgreSQL's autovacuum setting (${(error as Error).message}); make sure it is on`);
    return null;
  }
  if (typeof setting !== 'string') return null;
  if (setting !== 'on')
    log.warn(
      `PostgreSQL autovacuum is ${setting}: dead row versions pile up and statements keep plans made while tables were small; turn it on (the default), or run VACUUM (ANALYZE) often`,
    );
  return setting;
}
