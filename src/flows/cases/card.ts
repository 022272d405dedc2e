import { type DeadlineRow, runningClocks, soonestRunning } from '../deadlines/clocks.ts';
import { concurrently } from '../engine/batch.ts';
import type { TextKey } from '../engine/catalogue.ts';
import { formatSpan } from '../engine/format.ts';
import type { Choice, Reply } from '../engine/message.ts';
import { findStaff, type StaffRow } from '../org/directory.ts';
import { categoryLabel } from '../repair/categories.ts';
import { maskAddress, maskPhone } from '../validate/phone.ts';
import type { Work } from '../work.ts';
import type { CaseRow } from './open-case.ts';

/** What the card shows of a clock. */
type ShownClock = Pick<DeadlineRow, 'kind' | 'dueAt' | 'state'>;

/** The button payload for a staff action on a case. */
export const caseAction = (caseId: number, verb: string) => `case:${caseId}:${verb}`;

/**
 * The case card a team's group chat sees: masked phone and address, time left on each clock,
 * and the buttons for what can be done next. Staff texts are Chinese.
 */
export async function renderCard(
  w: Work,
  caseRow: CaseRow,
  /** What the caller knows already: the assignee (null: nobody) and the case's clocks. */
  known: { assignee?: Pick<StaffRow, 'id' | 'name'> | null; clocks?: ShownClock[] } = {},
): Promise<Reply> {
  const { t } = w.deps;
  const lang = 'zh' as const;
  const [assignee, clocks] = await concurrently<[Pick<StaffRow, 'id' | 'name'> | null, ShownClock[]]>(w.tx, [
    async () => {
      if (known.assignee !== undefined) return known.assignee;
      return caseRow.assigneeId ? findStaff(w.tx, caseRow.assigneeId) : null;
    },
    async () => (known.clocks ? soonestRunning(known.clocks) : runningClocks(w, caseRow.id)),
  ]);
  const lines: { label: string; value: string }[] = [];
  const category = categoryLabel(w.deps, caseRow.kind, caseRow.category, lang);
  if (category) lines.push({ label: t(lang, 'case.card.category'), value: category });
  lines.push({ label: t(lang, 'case.card.priority'), value: caseRow.priority });
  const area = w.deps.policy.repair.areas.find((a) => a.id === caseRow.area);
  if (area) lines.push({ label: t(lang, 'case.card.area'), value: area.name });
  lines.push({ label: t(lang, 'case.card.state'), value: t(lang, `case.state.${caseRow.state}` as TextKey) });
  if (caseRow.summary) lines.push({ label: t(lang, 'case.card.summary'), value: caseRow.summary });
  lines.push({ label: t(lang, 'case.card.phone'), value: maskPhone(caseRow.phone) });
  if (caseRow.address)
    lines.push({ label: t(lang, 'case.card.address'), value: maskAddress(caseRow.address) });
  const details = caseRow.details as { preferredTime?: string; photos?: unknown[] };
  if (details.preferredTime) lines.push({ label: t(lang, 'case.card.time'), value: details.preferredTime });
  if (details.photos?.length)
    lines.push({ label: t(lang, 'case.card.photos'), value: String(details.photos.length) });
  lines.push({ label: t(lang, 'case.card.assignee'), value: assignee?.name ?? t(lang, 'nobody') });
  for (const clock of clocks) {
    const left = clock.dueAt.getTime() - w.now.getTime();
    const name = t(lang, `clock.${clock.kind}` as TextKey);
    const span = formatSpan(left, lang, t);
    lines.push({
      label: t(lang, 'case.card.clock'),
      value: t(lang, left >= 0 ? 'case.card.clockLeft' : 'case.card.clockOver', { clock: name, left: span }),
    });
  }
  const button = (verb: 'take' | 'close' | 'arrive' | 'resolve'): Choice => ({
    label: t(lang, `case.action.${verb}`),
    action: caseAction(caseRow.id, verb),
  });
  const repair = caseRow.kind === 'repair';
  const choices: Choice[] = [];
  if (caseRow.state === 'open') choices.push(button('take'));
  if (caseRow.state === 'taken')
    choices.push(...(repair ? [button('arrive'), button('resolve')] : [button('close')]));
  if (caseRow.state === 'arrived') choices.push(button('resolve'));
  const kindKey = repair && caseRow.priority === 'P0' ? 'leak' : caseRow.kind;
  const title = t(lang, 'case.card.title', {
    kind: t(lang, `case.card.kind.${kindKey}` as TextKey),
    caseNo: caseRow.id,
  });
  const text = [title, ...lines.map((l) => `${l.label}：${l.value}`)].join('\n');
  return {
    text,
    card: { title, lines },
    choices,
    caseId: caseRow.id,
    ...(assignee ? { mentions: [assignee.id] } : {}),
  };
}
