import type { MailboxInfo } from '../imap/session.ts';
import { Checkpoints } from '../state/checkpoints.ts';
import { CopyJournal } from '../state/copy-journal.ts';
import { DeliveryLog } from '../state/deliveries.ts';
import { PendingExpunges } from '../state/pending-expunges.ts';
import type { StateStore } from '../state/store.ts';

/** What one account run remembers and writes down, over the state store, for the actions to use. */
export interface AccountState {
  readonly store: StateStore;
  /** The account's key segment (state/store.ts accountScope). */
  readonly scope: string;
  /** Only with the account lease: the journal assumes no other run writes at the same time. */
  readonly copyJournal?: CopyJournal;
  deliveries(mailbox: MailboxInfo, keyword: string): DeliveryLog;
  pendingExpunges(mailbox: MailboxInfo): PendingExpunges;
  /** What a ruleset's rules had finished, per mailbox, for incremental runs. */
  checkpoints(ruleset: string): Checkpoints;
  /** Records that were not believed since the last call (the mailbox went back), in words for the summary. */
  takeWarnings(): string[];
}

/** The state handles of one account run; `leaseToken` when it holds the account lease. */
export function accountState(
  store: StateStore,
  scope: string,
  options: { readonly leaseToken?: string; readonly now?: () => number } = {},
): AccountState {
  const now = options.now ?? Date.now;
  // One handle per mailbox and keyword: a DeliveryLog keeps what it loaded and coalesces its writes.
  const logs = new Map<string, DeliveryLog>();
  const warnings: string[] = [];
  return {
    store,
    scope,
    copyJournal: options.leaseToken ? new CopyJournal(store, scope, options.leaseToken, now) : undefined,
    deliveries(mailbox, keyword) {
      const key = `${mailbox.path}\u0000${mailbox.uidValidity}\u0000${keyword}`;
      const log =
        logs.get(key) ??
        new DeliveryLog(
          store,
          scope,
          { ...mailbox, mailbox: mailbox.path, keyword },
          { now, warn: (text) => warnings.push(text) },
        );
      logs.set(key, log);
      return log;
    },
    pendingExpunges: (mailbox) => new PendingExpunges(store, scope, mailbox, now),
    checkpoints: (ruleset) => new Checkpoints(store, scope, ruleset, now),
    takeWarnings: () => warnings.splice(0),
  };
}
