import type { output, ZodType } from 'zod';
import type { CopiedUids, ImapSession, MailboxInfo } from '../../imap/session.ts';
import type { SchemaKit } from '../../rules/schema-kit.ts';
import type { SecretResolver } from '../../secrets/resolve.ts';
import type { AccountState } from '../account-state.ts';
import type { MessageIdTrail } from '../message-id-trail.ts';
import type { MessageProblem } from '../summary.ts';

/** What an action is applied to: the selected mailbox and the UIDs the rule acts on. */
export interface ActionContext {
  readonly session: ImapSession;
  readonly mailbox: MailboxInfo;
  readonly uids: readonly number[];
  /** Report what would happen; send nothing that changes the mailbox, write no state. */
  readonly dryRun: boolean;
  readonly ruleset: { readonly name: string; readonly account: string };
  /** The rule acting (its name keys a webhook's delivery keyword). */
  readonly rule: { readonly name: string };
  /** Resolves `{ parameter }` / `{ env }` references (webhook URLs and secrets). */
  readonly secrets: SecretResolver;
  /** What the account remembers: copy journal, deliveries, pending expunges. */
  readonly state: AccountState;
  /** True when the run is out of time: stop starting new work. */
  readonly shouldStop?: () => boolean;
  /** Told how many of `uids` this action has finished, for actions that go message by message. */
  readonly progress?: (done: number) => void;
  /** The run keeps a history: an action says what it changed (`record`), asking the server first if it must. */
  readonly recording?: boolean;
  /** This is the rule's one action. */
  readonly onlyAction?: boolean;
  /** The Message-IDs of the rule's messages, where the run read them already (rule-sample.ts). */
  readonly messageIds?: ReadonlyMap<number, string>;
}

export interface ActionOutcome {
  readonly type: string;
  readonly target?: string;
  readonly count: number;
  /** False when this time the messages stayed where they were (a move onto their own mailbox). */
  readonly removesMessages?: false;
  /** When set, later actions apply only to these UIDs (e.g. the messages a webhook delivered). */
  readonly continueWith?: readonly number[];
  /** Messages the action failed for; they keep no mark and are tried again next run. */
  readonly failures?: readonly MessageProblem[];
  /** What a real run did, for the journal (history and undo); see state/run-journal.ts. */
  readonly record?: ActionRecord;
}

export interface ActionRecord {
  /**
   * Moves and copies: the target, its UIDVALIDITY and source → new UID, where the server said (COPYUID); where it
   * could not (no UIDPLUS), the trail that finds them by Message-ID.
   */
  readonly to?: { readonly mailbox: string; readonly copied?: CopiedUids; readonly trail?: MessageIdTrail };
  /** Flag changes: per flag, the UIDs whose flags this action really changed. */
  readonly changed?: Readonly<Record<string, readonly number[]>>;
  readonly expunged?: true;
  /** Webhooks: per message posted, its Idempotency-Key and the receiver's 2xx status. */
  readonly posted?: readonly WebhookPost[];
}

/** One message a webhook posted, as the history keeps it. */
export interface WebhookPost {
  readonly uid: number;
  readonly idempotencyKey: string;
  readonly status: number;
}

/** What the server lets an action do, asked before a rule acts (from CAPABILITY and PERMANENTFLAGS). */
export interface ServerFacts {
  readonly hasMove: boolean;
  readonly hasUidPlus: boolean;
  /** Whether the selected mailbox keeps `flag` (PERMANENTFLAGS lists it, or `\*` for any keyword). */
  canStore(flag: string): boolean;
  readonly mailbox: string;
  readonly permanentFlags: readonly string[];
  /** Throws MailboxNameError when the server cannot name this mailbox of the rule file. */
  assertNameable(name: string): void;
}

/** The flags an action leaves set and unset on every message it acts on. */
export interface FlagChange {
  readonly add: readonly string[];
  readonly remove: readonly string[];
}

/** One action of a rule file, in one file: everything the rest of mailsift needs to know about it. */
export interface ActionSpec<Key extends string, Schema extends ZodType> {
  readonly key: Key;
  /** Its rule-file schema, built from the shared pieces (zod is loaded by the rules loader only). */
  readonly schema: (kit: SchemaKit) => Schema;
  /** The messages leave the mailbox: it must be the last action; later rules and a dry run's memory skip them. */
  readonly removesMessages: boolean;
  /** Whether it may send UID EXPUNGE on this server (a rule that may first finishes interrupted expunges). */
  readonly mayExpunge?: (params: output<Schema>, server: Pick<ServerFacts, 'hasMove'>) => boolean;
  /** The messages go on living in another mailbox (a move, Trash): the history keeps their Message-IDs. */
  readonly relocates?: (params: output<Schema>, server: { readonly labels: boolean }) => boolean;
  /** Checked for every action of a rule before any of them acts: throws to fail the rule with nothing changed. */
  readonly preflight?: (params: output<Schema>, server: ServerFacts) => void;
  /**
   * The keyword with which it marks the messages it finished (webhook dedupe): SEARCH leaves out messages that
   * carry it and what the later actions leave behind.
   */
  readonly deliveryMark?: (params: output<Schema>, ruleName: string) => string | undefined;
  /** The flags it sets and clears (a webhook's SEARCH leaves out messages on which these already hold). */
  readonly flagChange?: (params: output<Schema>) => FlagChange;
  /** The step as `mailsift test` names it: `moveTo Finance/Invoices`; by default the key and its parameter. */
  readonly describe?: (params: output<Schema>) => string;
  /** Parameter Store names it reads at run time, for the functions' IAM policy. */
  readonly parameters?: (params: output<Schema>) => readonly string[];
  readonly apply: (params: output<Schema>, context: ActionContext) => Promise<ActionOutcome>;
}
