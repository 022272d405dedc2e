import { eq } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client.ts';
import { cases } from '../../db/schema/index.ts';
import type { CaseRow } from './open-case.ts';

/** A case by number, locked for update when asked (for state changes that must not race). */
export async function loadCase(
  tx: DbOrTx,
  caseId: number,
  opts: { forUpdate?: boolean } = {},
): Promise<CaseRow | null> {
  if (!Number.isSafeInteger(caseId) || caseId <= 0 || caseId > 2_147_483_647) return null;
  const query = tx.select().from(cases).where(eq(cases.id, caseId));
  const rows = opts.forUpdate ? await query.for('update') : await query;
  return rows[0] ?? null;
}
