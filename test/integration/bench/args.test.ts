import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The benches read their options before they touch PostgreSQL or Redis, so a wrong option costs
// nothing: it is named, the usage follows, and the bench exits 2 without a stack trace.
const root = fileURLToPath(new URL('../../../', import.meta.url));

function bench(name: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', `bench/${name}.ts`, ...args],
      { cwd: root, timeout: 20_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('the benches’ options', () => {
  it.each(['inbound', 'deadlines', 'outbound', 'driver'])(
    'bench:%s --help prints its usage and exits 0',
    async (name) => {
      const { code, stdout } = await bench(name, ['--help']);
      expect(code).toBe(0);
      expect(stdout).toContain(`usage: npm run bench:${name} -- [options]`);
    },
  );

  it('an unknown option is named, with the usage, and exits 2', async () => {
    const { code, stdout, stderr } = await bench('driver', ['--rownds', '3']);
    expect(code).toBe(2);
    expect(stderr).toContain("Unknown option '--rownds'");
    expect(stderr).toContain('usage: npm run bench:driver');
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stdout).toBe('');
  });

  it.each([['abc'], ['-1']])('a number option given %s says what it expects and exits 2', async (value) => {
    const { code, stderr } = await bench('driver', [`--rounds=${value}`]);
    expect(code).toBe(2);
    expect(stderr).toContain(`--rounds: expected a non-negative number, got ${value}`);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
