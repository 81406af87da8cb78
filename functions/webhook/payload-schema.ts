import { z } from 'zod';
import type { WebhookPayload } from './payload.ts';

const AddressSchema = z.object({ name: z.string(), address: z.string() });

/** The JSON body of a `format: json` webhook; exported as schema/webhook-payload.schema.json. */
export const WebhookPayloadSchema = z.object({
  version: z.literal(1),
  account: z.string(),
  ruleset: z.string(),
  rule: z.string(),
  mailbox: z.string(),
  uidValidity: z.string().describe('UIDVALIDITY of the mailbox, as a decimal string (it may exceed 2^53).'),
  uid: z.number().int(),
  messageId: z.string().nullable(),
  date: z.string().nullable().describe('Date header as ISO 8601, or null when missing or invalid.'),
  receivedAt: z.string().nullable().describe('INTERNALDATE as ISO 8601.'),
  from: z.array(AddressSchema),
  to: z.array(AddressSchema),
  cc: z.array(AddressSchema),
  subject: z.string().describe('Decoded subject; empty when missing.'),
  text: z
    .string()
    .optional()
    .describe('Plain-text body (HTML-only mail is turned into text), when include has text.'),
  truncated: z.boolean().optional().describe('True when text was cut at maxTextLength.'),
  attachments: z
    .array(z.object({ filename: z.string().nullable(), contentType: z.string(), size: z.number().int() }))
    .optional()
    .describe('Attachment metadata, when include has attachments (never the content).'),
  headers: z
    .record(z.string(), z.array(z.string()))
    .optional()
    .describe('Requested header fields, by lower-case name.'),
});

// The payload type is written out in payload.ts so the Lambda bundle needs no zod; this keeps the two equal.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const PAYLOAD_TYPE_MATCHES_SCHEMA: Same<z.infer<typeof WebhookPayloadSchema>, WebhookPayload> = true;
void PAYLOAD_TYPE_MATCHES_SCHEMA;

export function webhookPayloadJsonSchema(): Record<string, unknown> {
  return { ...z.toJSONSchema(WebhookPayloadSchema), title: 'mailsift webhook payload (format: json)' };
}
