import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { checkAutovacuum } from '../../../src/db/client.ts';
import { capturingLogger } from '../../fixtures/logger.ts';
import { adminDatabaseUrl } from '../../fixtures/urls.ts';

const sql = postgres(adminDatabaseUrl(), { max: 1, onnotice: () => {} });
afterAll(() => sql.end({ timeout: 1 }));

const answering = (rows: unknown[]) =>
  ({ unsafe: async () => rows }) as unknown as Pick<postgres.Sql, 'unsafe'>;

describe('checkAutovacuum', () => {
  it("reads the server's setting, and warns only when it is off", async () => {
    const [{ autovacuum }] = (await sql.unsafe('show autovacuum')) as unknown as [{ autovacuum: string }];
    const { log, lines } = capturingLogger('info');
    expect(await checkAutovacuum(sql, log)).toBe(autovacuum);
    expect(lines().filter((l) => l.level === 40)).toHaveLength(autovacuum === 'on' ? 0 : 1);
  });

  it('warns, naming the fix, when autovacuum is off', async () => {
    const { log, lines } = capturingLogger('info');
    expect(await checkAutovacuum(answering([{ autovacuum: 'off' }]), log)).toBe('off');
    expect(lines()).toEqual([
      expect.objectContaining({ level: 40, msg: expect.stringContaining('turn it on (the default)') }),
    ]);
    const quiet = capturingLogger('info');
    expect(await checkAutovacuum(answering([{ autovacuum: 'on' }]), quiet.log)).toBe('on');
    expect(quiet.lines()).toEqual([]);
  });

  it('says so at info, and carries on, when the setting cannot be read', async () => {
    const { log, lines } = capturingLogger('info');
    const failing = {
      unsafe: async () => {
        throw new Error('permission denied');
      },
    } as unknown as Pick<postgres.Sql, 'unsafe'>;
    expect(await checkAutovacuum(failing, log)).toBeNull();
    expect(lines()).toEqual([expect.objectContaining({ level: 30 })]);
  });
});
