import type postgres from 'postgres';

/**
 * Counts the statements a postgres.js pool sends (transaction control included), by text, through
 * the driver's `debug` hook. It sets `options.debug` on a live pool: a bench-only measuring
 * device, harmless (one function call per statement) and removed by `stop()`.
 */
export function countStatements(sql: postgres.Sql) {
  const options = sql.options as unknown as { debug?: unknown };
  const previous = options.debug;
  const byText = new Map<string, number>();
  let total = 0;
  options.debug = (_connection: number, text: string) => {
    total++;
    const key = text.replace(/\s+/g, ' ').slice(0, 90);
    byText.set(key, (byText.get(key) ?? 0) + 1);
  };
  return {
    stop() {
      options.debug = previous;
      return { total, top: (n: number) => [...byText.entries()].sort((a, b) => b[1] - a[1]).slice(0, n) };
    },
  };
}
