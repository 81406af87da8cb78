import type { ImapSession, MailboxInfo } from '../../imap/session.ts';

/** What an action is applied to: the selected mailbox and the UIDs the rule acts on. */
export interface ActionContext {
  readonly session: ImapSession;
  readonly mailbox: MailboxInfo;
  readonly uids: readonly number[];
  /** Report what would happen; send nothing that changes the mailbox. */
  readonly dryRun: boolean;
}

export interface ActionOutcome {
  readonly type: string;
  readonly target?: string;
  readonly count: number;
  /** The messages left the rule's mailbox (moved or deleted); later actions and rules no longer see them. */
  readonly removesMessages: boolean;
}

export type ActionHandler<Params> = (params: Params, context: ActionContext) => Promise<ActionOutcome>;
