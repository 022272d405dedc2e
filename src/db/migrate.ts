// `npm run db:migrate`: apply migrations to DATABASE_URL (the bot also does this at start).
import { parseEnv } from '../env.ts';
import { connectDatabase, migrateDatabase } from './client.ts';

const env = parseEnv();
if (!env.DATABASE_URL) {
  console.error('DATABASE_URL is not set (the embedded database migrates itself at npm start)');
  process.exit(1);
}
const database = connectDatabase(env.DATABASE_URL, { max: 1 });
try {
  await migrateDatabase(database);
} catch (err) {
  console.error(`migration failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await database.close();
}
