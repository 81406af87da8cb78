import type { FetchMessageObject } from '../imap/session.ts';
import type { BodyNode } from '../mail/mime.ts';

export type Envelope = NonNullable<FetchMessageObject['envelope']>;

/**
 * One message as the offline evaluator sees it: read from a file (`mail/message-file.ts`), or fetched for
 * `mailsift explain --uid`. Envelope and structure have imapflow's shapes, so the client checks the engine makes
 * are made offline by the very same code.
 */
export interface MessageFacts {
  readonly envelope: Envelope;
  readonly bodyStructure: BodyNode;
  /** RFC822.SIZE: the message's bytes with CRLF line ends. */
  readonly size: number;
  /** INTERNALDATE: when the server received it. */
  readonly internalDate: Date;
  readonly flags: ReadonlySet<string>;
  /** The message's own header block, raw; absent when it was not read. */
  readonly header?: Buffer;
  /** What BODY and TEXT search; absent when it was not read. */
  readonly text?: MessageText;
}

/** A message's text as SEARCH sees it (RFC 3501 §6.4.4), decoded to UTF-8. */
export interface MessageText {
  /** Each leaf part's content, transfer encoding and charset decoded: what BODY searches. */
  readonly parts: readonly string[];
  /** Each header block (the message's, each part's, each attached message's), unfolded and decoded. */
  readonly headers: readonly string[];
}

/** The facts as a FETCH answer, for the client checks. */
export function asFetched(message: MessageFacts): FetchMessageObject {
  return {
    seq: 0,
    uid: 0,
    envelope: message.envelope,
    bodyStructure: message.bodyStructure,
    internalDate: message.internalDate,
    flags: new Set(message.flags),
    size: message.size,
    ...(message.header ? { headers: message.header } : {}),
  } as FetchMessageObject;
}
