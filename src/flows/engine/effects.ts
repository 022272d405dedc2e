/**
 * What a transaction left for the timers and senders to pick up once it commits: the rows are
 * already written, these ids only wake the workers up early.
 */
export interface Effects {
  outboxIds: number[];
  /** The channel of each queued row, when known, so waking its queue needs no look-up. */
  outboxChannels?: Record<number, string>;
  deadlines: { id: number; nextAt: Date }[];
}

export function emptyEffects(): Effects {
  return { outboxIds: [], deadlines: [] };
}

/** Wakes the workers after a commit. Losing a wake-up is harmless: the reconciler catches up. */
export interface Kicker {
  /**
   * After a commit. The rows of one call go out together (one wake-up per channel); `perRow`
   * gives each row a job of its own instead (the reconciler's rows, which may be waiting already).
   */
  kick(effects: Effects, opts?: { perRow?: boolean }): Promise<void>;
  /**
   * Wakes the next message of a chat at once, when the one before it is done: a waiting row's
   * job sleeps until then instead of polling (the sleep is only a safety net).
   */
  wakeNext?(channel: string, outboxId: number): Promise<void>;
  /** Gives a row a job of its own that starts after `delayMs` (a row of a batch that must wait or be retried). */
  retryLater?(channel: string, outboxId: number, delayMs: number): Promise<void>;
}

export const noKicker: Kicker = { kick: async () => {} };
