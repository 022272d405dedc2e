import type { Tx } from '../db/client.ts';
import type { FlowDeps } from './deps.ts';
import type { Effects } from './engine/effects.ts';

/**
 * One unit of work: a transaction, the rules, the moment it happens, and the wake-ups to send
 * after commit. Domain functions take it as their first argument.
 */
export interface Work {
  tx: Tx;
  deps: FlowDeps;
  effects: Effects;
  now: Date;
}
