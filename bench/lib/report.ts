import type { Summary } from './stats.ts';

/**
 * Bench output: human-readable lines first, then exactly one JSON line last
 * (`{"bench": "<name>", ...figures}`) so runs can be collected and compared with `tail -n1`.
 * Logs of the bot go to stderr (see `benchLogger`), so stdout holds only these.
 */
// A closed pipe (`| head`) must not kill a bench before it has dropped its database.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

export function say(text = ''): void {
  process.stdout.write(`${text}\n`);
}

export function finalJson(bench: string, figures: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ bench, ...figures })}\n`);
}

const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : 'n/a');

/** `p50 1.2 ms  p95 …  p99 …  max …  (n=…)` */
export function fmtLatency(s: Summary): string {
  return `p50 ${ms(s.p50)}  p95 ${ms(s.p95)}  p99 ${ms(s.p99)}  max ${ms(s.max)}  (n=${s.n})`;
}

export function fmtRate(perSec: number, unit: string): string {
  return `${Number.isFinite(perSec) ? perSec.toFixed(0) : 'n/a'} ${unit}/s`;
}

export function fmtBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'n/a';
  if (Math.abs(bytes) < 10_240) return `${bytes.toFixed(0)} B`;
  if (Math.abs(bytes) < 10_485_760) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1_048_576).toFixed(1)} MiB`;
}
