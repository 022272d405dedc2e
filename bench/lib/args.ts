import { parseArgs } from 'node:util';

type Spec = Record<string, { type: 'number' | 'boolean'; default: number | boolean; help: string }>;
type Values<S extends Spec> = { [K in keyof S]: S[K]['type'] extends 'number' ? number : boolean };

/** Parses `--name value` / `--flag` options; `--help` prints them and exits. Unknown options fail. */
export function benchArgs<S extends Spec>(usage: string, spec: S, argv = process.argv.slice(2)): Values<S> {
  const options = Object.fromEntries(
    Object.entries(spec).map(([name, o]) => [name, { type: o.type === 'number' ? 'string' : 'boolean' }]),
  ) as Record<string, { type: 'string' | 'boolean' }>;
  let parsed: Record<string, string | boolean | undefined>;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean' } }, strict: true })
      .values as Record<string, string | boolean | undefined>;
  } catch (err) {
    console.error(`${(err as Error).message}\n${help(usage, spec)}`);
    process.exit(2);
  }
  if (parsed.help) {
    process.stdout.write(`${help(usage, spec)}\n`);
    process.exit(0);
  }
  const out: Record<string, number | boolean> = {};
  for (const [name, o] of Object.entries(spec)) {
    const raw = parsed[name];
    if (raw === undefined) out[name] = o.default;
    else if (o.type === 'boolean') out[name] = raw === true;
    else {
      const n = Number(raw);
      if (!Number.isFinite(n) || n < 0) {
        console.error(`--${name}: expected a non-negative number, got ${String(raw)}`);
        process.exit(2);
      }
      out[name] = n;
    }
  }
  return out as Values<S>;
}

function help(usage: string, spec: Spec): string {
  const lines = Object.entries(spec).map(
    ([name, o]) => `  --${name}${o.type === 'number' ? ' N' : ''}  ${o.help} (default ${String(o.default)})`,
  );
  return [usage, ...lines].join('\n');
}
