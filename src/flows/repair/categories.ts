import type { FlowDeps } from '../deps.ts';
import type { TextKey } from '../engine/catalogue.ts';
import { normalizeWords } from '../engine/intents.ts';
import type { Lang } from '../engine/message.ts';
import type { Policy } from '../policy/schema.ts';

export type RepairCategory = Policy['repair']['categories'][number];

export function findCategory(policy: Policy, id: string | null | undefined): RepairCategory | undefined {
  return policy.repair.categories.find((c) => c.id === id);
}

export function emergencyCategory(policy: Policy): RepairCategory {
  return policy.repair.categories.find((c) => c.emergency)!;
}

/** The fault category a free-text message names by the policy's keywords (没气了 → nogas), if any. */
export function detectCategory(policy: Policy, text: string | undefined): RepairCategory | undefined {
  if (!text) return undefined;
  const words = normalizeWords(text);
  return policy.repair.categories.find(
    (c) => !c.emergency && c.keywords.some((k) => words.includes(k.toLowerCase())),
  );
}

/** The service area an address falls in, by the policy's words (区, 街道, 小区). */
export function areaOf(policy: Policy, address: string | null | undefined): string | null {
  if (!address) return null;
  return policy.repair.areas.find((a) => a.match.some((m) => address.includes(m)))?.id ?? null;
}

/** The team for a repair: the first route rule matching category and area, else the routing table. */
export function repairTeam(policy: Policy, category: string, area: string | null): string {
  const rule = policy.repair.routes.find(
    (r) =>
      (!r.categories || r.categories.includes(category)) &&
      (!r.areas || (area !== null && r.areas.includes(area))),
  );
  return rule?.team ?? policy.routing.repair ?? policy.routing.default;
}

/** A case's category as people read it: a fault category's name, an enquiry topic's label. */
export function categoryLabel(
  deps: FlowDeps,
  kind: string,
  category: string | null,
  lang: Lang,
): string | null {
  if (!category) return null;
  if (kind === 'repair') {
    const c = findCategory(deps.policy, category);
    return c ? (lang === 'en' ? (c.nameEn ?? c.name) : c.name) : category;
  }
  if (kind === 'enquiry') return deps.t(lang, `enquiry.topic.${category}` as TextKey);
  return category;
}
