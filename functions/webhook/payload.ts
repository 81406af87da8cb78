import type { FetchMessageObject } from '../imap/session.ts';
import { listAttachments, parseHeaderBlock } from '../mail/mime.ts';

/** The JSON body of a `format: json` webhook (schema: payload-schema.ts, schema/webhook-payload.schema.json). */
export interface WebhookPayload {
  version: 1;
  account: string;
  ruleset: string;
  rule: string;
  mailbox: string;
  uidValidity: string;
  uid: number;
  messageId: string | null;
  date: string | null;
  receivedAt: string | null;
  from: { name: string; address: string }[];
  to: { name: string; address: string }[];
  cc: { name: string; address: string }[];
  subject: string;
  text?: string | undefined;
  truncated?: boolean | undefined;
  attachments?: { filename: string | null; contentType: string; size: number }[] | undefined;
  headers?: Record<string, string[]> | undefined;
}

/** Slack escapes only these three in message text. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const SLACK_PREVIEW_LINES = 5;

/** A message Slack incoming webhooks accept: sender, subject and the first lines of the text. */
export function toSlackMessage(payload: WebhookPayload): { text: string } {
  const sender =
    payload.from.map((a) => (a.name ? `${a.name} <${a.address}>` : a.address)).join(', ') || '(no sender)';
  const preview = (payload.text ?? '')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(0, SLACK_PREVIEW_LINES)
    .map((line) => `> ${slackEscape(line)}`);
  return {
    text: [
      `*${slackEscape(payload.subject || '(no subject)')}*`,
      `From: ${slackEscape(sender)}`,
      ...preview,
    ].join('\n'),
  };
}

/** Where a message was found and by which rule: the payload's fields that do not come from the message. */
export interface PayloadOrigin {
  readonly account: string;
  readonly ruleset: string;
  readonly rule: string;
  readonly mailbox: string;
  readonly uidValidity: bigint;
}

function addresses(
  list: { name?: string; address?: string }[] | undefined,
): { name: string; address: string }[] {
  return (list ?? []).map((entry) => ({ name: entry.name ?? '', address: entry.address ?? '' }));
}

function isoOrNull(value: Date | string | undefined): string | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/**
 * The payload of one message, from its FETCH (envelope, INTERNALDATE, BODYSTRUCTURE, headers): `text` when the
 * webhook includes it, attachments and headers when asked for.
 */
export function buildPayload(
  message: FetchMessageObject,
  origin: PayloadOrigin,
  parts: {
    readonly text?: { readonly text: string; readonly truncated: boolean } | null;
    readonly attachments: boolean;
    readonly headers: boolean;
  },
): WebhookPayload {
  return {
    version: 1,
    account: origin.account,
    ruleset: origin.ruleset,
    rule: origin.rule,
    mailbox: origin.mailbox,
    uidValidity: origin.uidValidity.toString(),
    uid: message.uid,
    messageId: message.envelope?.messageId ?? null,
    date: isoOrNull(message.envelope?.date),
    receivedAt: isoOrNull(message.internalDate),
    from: addresses(message.envelope?.from),
    to: addresses(message.envelope?.to),
    cc: addresses(message.envelope?.cc),
    subject: message.envelope?.subject ?? '',
    ...(parts.text === undefined
      ? {}
      : { text: parts.text?.text ?? '', truncated: parts.text?.truncated ?? false }),
    ...(parts.attachments
      ? {
          attachments: listAttachments(message.bodyStructure).map((a) => ({
            filename: a.filename ?? null,
            contentType: a.type,
            size: a.size,
          })),
        }
      : {}),
    ...(parts.headers ? { headers: Object.fromEntries(parseHeaderBlock(message.headers)) } : {}),
  };
}
