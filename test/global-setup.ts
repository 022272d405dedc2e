import { Redis } from 'ioredis';
import postgres from 'postgres';
import { adminDatabaseUrl, testRedisUrl } from './fixtures/urls.ts';

/** Fails the run at once, with one clear line, when PostgreSQL or Redis is not there. */
export default async function setup(): Promise<void> {
  const sql = postgres(adminDatabaseUrl(), { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    await sql`select 1`;
  } catch (err) {
    throw new Error(
      `tests need PostgreSQL at ${adminDatabaseUrl()} (TEST_DATABASE_URL): ${(err as Error).message}`,
    );
  } finally {
    await sql.end({ timeout: 1 });
  }
  const redis = new Redis(testRedisUrl(), {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new Error(`tests need Redis at ${testRedisUrl()} (TEST_REDIS_URL): ${(err as Error).message}`);
  } finally {
    redis.disconnect();
  }
}
