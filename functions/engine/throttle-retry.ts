import { ImapThrottledError } from '../errors.ts';
import type { RuleSummary } from './summary.ts';

/** How long to wait before each new try of a rule the server throttled; after the last, the rule fails. */
export const THROTTLE_DELAYS_MS: readonly number[] = [2_000, 8_000, 30_000];

type Attempt = Omit<RuleSummary, 'imapCommands'>;

/** A rule's last try: its summary, or what it threw; and how often it was tried again. */
export type Tried = ({ readonly summary: Attempt } | { readonly error: unknown }) & {
  readonly retries?: number;
};

/**
 * Runs a rule, and again after each delay while the server refuses it for load (ImapThrottledError, thrown or in
 * its summary) and the run has time. Only while the rule has changed nothing yet (a dry run never does): a copy
 * made before the refusal is in this run's own journal, which a second try would not consult.
 */
export async function retryingThrottled(
  attempt: () => Promise<Attempt>,
  options: {
    readonly delaysMs: readonly number[];
    readonly dryRun: boolean;
    readonly shouldStop?: () => boolean;
    /** Puts back what the refused try left for the later rules (what it held back). */
    readonly beforeRetry: () => void;
  },
): Promise<Tried> {
  for (let tries = 0; ; tries += 1) {
    const outcome = await attempt().then(
      (summary) => ({ summary }),
      (error: unknown) => ({ error }),
    );
    const delay = options.delaysMs[tries];
    const again =
      delay !== undefined && !options.shouldStop?.() && throttledBeforeActing(outcome, options.dryRun);
    if (!again) return tries > 0 ? { ...outcome, retries: tries } : outcome;
    options.beforeRetry();
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

function throttledBeforeActing(outcome: { summary: Attempt } | { error: unknown }, dryRun: boolean): boolean {
  if ('error' in outcome) return outcome.error instanceof ImapThrottledError;
  const { summary } = outcome;
  return (
    summary.errorType === ImapThrottledError.name &&
    (dryRun || summary.actions.every((action) => action.count === 0))
  );
}
