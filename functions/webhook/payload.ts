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
