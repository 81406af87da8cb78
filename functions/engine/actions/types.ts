import type { ImapSession, MailboxInfo } from '../../imap/session.ts';
import type { SecretResolver } from '../../secrets/resolve.ts';
import type { CopyJournal } from '../copy-journal.ts';

/** What an action is applied to: the selected mailbox and the UIDs the rule acts on. */
export interface ActionContext {
  readonly session: ImapSession;
  readonly mailbox: MailboxInfo;
  readonly uids: readonly number[];
  /** Report what would happen; send nothing that changes the mailbox. */
  readonly dryRun: boolean;
  readonly ruleset: { readonly name: string; readonly account: string };
  readonly ruleName: string;
  /** Resolves `{ parameter }` / `{ env }` references (webhook URLs and secrets). */
  readonly secrets: SecretResolver;
  /** True when the run is out of time: stop starting new work. */
  readonly shouldStop?: () => boolean;
  /** Where COPYs are written down so that none is repeated (a real run holding the account lease). */
  readonly copyJournal?: CopyJournal;
  /** Told how many of `uids` this action has finished, for actions that go message by message. */
  readonly progress?: (done: number) => void;
}

export interface ActionOutcome {
  readonly type: string;
  readonly target?: string;
  readonly count: number;
  /** The messages left the rule's mailbox (moved or deleted); later actions and rules no longer see them. */
  readonly removesMessages: boolean;
  /** When set, later actions apply only to these UIDs (e.g. the messages a webhook delivered). */
  readonly continueWith?: readonly number[];
  /** Messages the action failed for; they keep no mark and are tried again next run. */
  readonly failures?: readonly { readonly uid: number; readonly reason: string }[];
}

export type ActionHandler<Params> = (params: Params, context: ActionContext) => Promise<ActionOutcome>;
