/** One problem found in a rule or accounts file, located as precisely as we can. */
export interface FileProblem {
  readonly file: string;
  /** 1-based line in the file, when the problem can be pinned to one. */
  readonly line?: number;
  /** Dotted field path such as `rules[1].actions[0].moveTo`; empty for the whole file. */
  readonly path: string;
  readonly message: string;
}

export function formatProblem(problem: FileProblem): string {
  const where = problem.line === undefined ? problem.file : `${problem.file}:${problem.line}`;
  return problem.path ? `${where}: ${problem.path}: ${problem.message}` : `${where}: ${problem.message}`;
}

/** Base class: every error of ours has a stable `name` and a message a user can act on. */
export class MailsiftError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A rule file could not be read or is invalid; lists every problem at once. */
export class RuleFileError extends MailsiftError {
  readonly problems: readonly FileProblem[];
  constructor(problems: readonly FileProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.problems = problems;
  }
}

/** The accounts file is missing, invalid, or does not name the account a ruleset needs. */
export class AccountError extends MailsiftError {}

/** Wrong command-line usage. */
export class UsageError extends MailsiftError {}

/** TCP connect failed, timed out, or the server went away. */
export class ImapConnectError extends MailsiftError {}

/** TLS could not be established or verified, or STARTTLS was required and not possible. */
export class ImapTlsError extends MailsiftError {}

/** The server rejected the credentials. */
export class ImapAuthError extends MailsiftError {}

/**
 * An OAuth2 token could not be had: the authorization server refused (`invalid_client`, `invalid_grant`, consent
 * missing) or could not be reached. The message says which account and setting, and what to do; never a secret.
 */
export class OAuth2Error extends MailsiftError {
  /** The authorization server's `error` code (RFC 6749 §5.2), when it sent one. */
  readonly code?: string;
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(message, options);
    this.code = options?.code;
  }
}

/** A mailbox a rule names does not exist (and is not one we create). */
export class MailboxNotFoundError extends MailsiftError {}

/** A mailbox name of a rule file that this server cannot express (a part holds its hierarchy delimiter). */
export class MailboxNameError extends MailsiftError {}

/** A reviewed plan cannot be applied to a rule as it was made (its mailbox was created again since). */
export class PlanError extends MailsiftError {}

/** The server lacks a capability that the requested action needs to be safe. */
export class CapabilityError extends MailsiftError {}

/** A match key cannot be decided offline for this message (gmailSearch; a body that was not read). */
export class OfflineEvaluationError extends MailsiftError {}

/** An IMAP command failed; carries the server's status, response code and text. */
export class ImapActionError extends MailsiftError {
  readonly command: string;
  readonly status?: string;
  readonly responseCode?: string;
  readonly serverText?: string;
  constructor(
    command: string,
    details: { status?: string; responseCode?: string; serverText?: string },
    options?: { cause?: unknown },
  ) {
    const code = details.responseCode ? ` [${details.responseCode}]` : '';
    const text = details.serverText ? `: ${JSON.stringify(details.serverText)}` : '';
    super(`${command} failed with ${details.status ?? 'an error'}${code}${text}`, options);
    this.command = command;
    this.status = details.status;
    this.responseCode = details.responseCode;
    this.serverText = details.serverText;
  }
}

/**
 * The server refused a command for load, not for what it asked: [UNAVAILABLE] or [LIMIT] (RFC 5530), Gmail's
 * [THROTTLED], Exchange's "Server Unavailable. 15". Worth asking again a little later.
 */
export class ImapThrottledError extends ImapActionError {}
