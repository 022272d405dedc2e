import type { Logger } from '../log.ts';
import type { Clock } from './clock.ts';
import { WorkCalendar } from './deadlines/calendar.ts';
import { createTranslator, type Translate } from './engine/catalogue.ts';
import type { Policy } from './policy/schema.ts';

/** What every flow and job needs besides the database: the rules, the texts, the time. */
export interface FlowDeps {
  policy: Policy;
  t: Translate;
  clock: Clock;
  calendar: WorkCalendar;
  log: Logger;
}

/** Builds the flow dependencies from a parsed policy. */
export function createFlowDeps(opts: { policy: Policy; clock: Clock; log: Logger }): FlowDeps {
  const { policy } = opts;
  return {
    policy,
    clock: opts.clock,
    log: opts.log,
    t: createTranslator(policy.texts),
    calendar: new WorkCalendar({
      overrides: policy.calendar.years,
      workingHours: policy.calendar.workingHours,
    }),
  };
}
