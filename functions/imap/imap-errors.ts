import { getStatusCode } from 'imapflow/lib/tools.js';
import { CapabilityError, ImapActionError, ImapConnectError, ImapThrottledError } from '../errors.ts';

/** The fields imapflow sets on the errors it throws. */
export interface ImapFlowCommandError extends Error {
  responseStatus?: string;
  responseText?: string;
  response?: unknown;
  serverResponseCode?: string;
  authenticationFailed?: boolean;
  tlsFailed?: boolean;
  code?: string;
}

/** The response code of a failed command (`[TRYCREATE]`, RFC 3501 §7.1), where the server sent one. */
export function statusCodeOf(error: unknown): string | undefined {
  const err = error as ImapFlowCommandError | undefined;
  if (!err) return undefined;
  if (err.serverResponseCode) return err.serverResponseCode;
  const code =
    err.response && typeof err.response === 'object' ? getStatusCode(err.response as never) : false;
  return code || undefined;
}

/** The server's human-readable text of a failed command. */
export function textOf(error: unknown): string {
  const err = error as ImapFlowCommandError | undefined;
  return err?.responseText ?? (typeof err?.response === 'string' ? err.response : '') ?? '';
}

/** A failure over a mailbox that does not exist: [NONEXISTENT] (RFC 5530), or Dovecot's words without a code. */
export function isNonexistent(error: unknown): boolean {
  if (!(error instanceof ImapActionError)) return false;
  return (
    error.responseCode === 'NONEXISTENT' ||
    /doesn't exist|does not exist|not found/i.test(error.serverText ?? '')
  );
}

/**
 * Our typed error for a failed command: a lost connection is an ImapConnectError (the run ends), anything else
 * an ImapActionError with the server's status, code and text. Our own errors pass through unchanged.
 */
export function toActionError(command: string, error: unknown): Error {
  if (
    error instanceof ImapActionError ||
    error instanceof CapabilityError ||
    error instanceof ImapConnectError
  ) {
    return error;
  }
  const err = error as ImapFlowCommandError | undefined;
  if (err && !err.responseStatus && (err.code === 'NoConnection' || err.code === 'EConnectionClosed')) {
    return new ImapConnectError(`connection lost during ${command}`, { cause: error });
  }
  const details = {
    status: err?.responseStatus ?? (err?.code ? `error ${err.code}` : undefined),
    responseCode: statusCodeOf(error),
    serverText: textOf(error) || undefined,
  };
  const Type = isThrottling(details) ? ImapThrottledError : ImapActionError;
  return new Type(command, details, { cause: error });
}

/** Response codes of a server that is refusing for load (RFC 5530 §3; Gmail's own). */
const THROTTLING_CODES = new Set(['UNAVAILABLE', 'LIMIT', 'THROTTLED']);

/** A NO for load: by its code, or in Exchange's words, which come without one ("Server Unavailable. 15"). */
function isThrottling(details: { status?: string; responseCode?: string; serverText?: string }): boolean {
  if (details.status?.toUpperCase() !== 'NO') return false;
  if (details.responseCode && THROTTLING_CODES.has(details.responseCode.toUpperCase())) return true;
  return /\bServer Unavailable\.|\bthrottl/i.test(details.serverText ?? '');
}
