import type { ImapFlow } from 'imapflow';
import { toActionError } from './imap-errors.ts';

/** The internal part of imapflow we rely on; `exec` is the primitive its own commands are built from. */
interface ImapFlowInternals {
  exec(
    command: string,
    attributes: unknown[],
    options?: unknown,
  ): Promise<{ response: ParsedResponse; next: () => void }>;
}

/**
 * Sends a raw command, for what imapflow's own methods do wrong for us (a STATUS that follows a NO with a LIST,
 * a STORE that drops keywords silently, an EXPUNGE without UIDs); `options` are imapflow's (e.g. handlers for
 * untagged responses). `exec` is not in imapflow's types, hence the one cast.
 * @throws ImapActionError, or ImapConnectError when the connection is gone.
 */
export async function execChecked(
  client: ImapFlow,
  command: string,
  attributes: unknown[],
  options?: unknown,
): Promise<ParsedResponse> {
  let response: Awaited<ReturnType<ImapFlowInternals['exec']>>;
  try {
    response = await (client as unknown as ImapFlowInternals).exec(command, attributes, options);
  } catch (error) {
    throw toActionError(command, error);
  }
  // imapflow holds its command queue until the response is released.
  response.next();
  return response.response;
}

/** A response as imapflow's parser gives it: a tagged or untagged line's attributes. */
export interface ParsedResponse {
  readonly attributes?: unknown[];
}

/** A sequence-set attribute for `execChecked`. */
export function sequence(set: string) {
  return { type: 'SEQUENCE', value: set };
}

/** An atom attribute for `execChecked`. */
export function atom(value: string) {
  return { type: 'ATOM', value };
}
