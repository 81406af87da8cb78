import type { output } from 'zod';
import { MailsiftError } from '../../errors.ts';
import type { FetchMessageObject } from '../../imap/session.ts';
import type { SchemaKit } from '../../rules/schema-kit.ts';
import { deliverWebhook, idempotencyKey } from '../../webhook/deliver.ts';
import { buildPayload, toSlackMessage } from '../../webhook/payload.ts';
import { isAllowedWebhookUrl } from '../../webhook/url.ts';
import { UNREADABLE_REASON } from '../unreadable.ts';
import { type Delivered, openDeliveries } from '../webhook-deliveries.ts';
import { fetchTexts } from '../webhook-texts.ts';
import { defineAction } from './define.ts';
import type { ActionContext, ActionOutcome, WebhookPost } from './types.ts';

/** Posts a journal entry keeps one by one (about 100 bytes each); a run posting more keeps their count. */
const MAX_POSTS_KEPT = 2_000;

/** Messages posted at once; small, so one slow receiver cannot hold many open connections. */
const DELIVERY_CONCURRENCY = 4;

export const WEBHOOK_INCLUDES = ['text', 'attachments'] as const;

function webhookSchema({ z, headerName, secretReference, flag }: SchemaKit) {
  return z.strictObject({
    url: z.union(
      [
        z
          .string()
          .refine(
            isAllowedWebhookUrl,
            'expected an https:// URL (http:// only for localhost) without credentials',
          ),
        secretReference,
      ],
      { error: 'expected an https:// URL, { parameter: /name } or { env: NAME }' },
    ),
    format: z.enum(['json', 'slack'], { error: 'expected json or slack' }).default('json'),
    include: z
      .array(z.enum(WEBHOOK_INCLUDES, { error: 'expected text or attachments' }))
      .default(['text', 'attachments'])
      .describe('Optional parts of the JSON payload.'),
    headers: z.array(headerName).optional().describe('Header fields to add to the JSON payload.'),
    maxTextLength: z
      .number({ error: 'expected a whole number' })
      .int()
      .min(100, 'expected at least 100')
      .max(1_000_000, 'expected at most 1000000')
      .default(20_000)
      .describe('Longest text body in characters; longer text is cut and marked truncated.'),
    secret: secretReference
      .optional()
      .describe('Signs each request with HMAC-SHA256 (X-Mailsift-Signature).'),
    attempts: z
      .number()
      .int()
      .min(1)
      .max(10)
      .default(5)
      .describe('Tries per message (network errors, 5xx, 429).'),
    timeoutSeconds: z.number().int().min(1).max(120).default(10),
    dedupe: z
      .boolean()
      .default(true)
      .describe(
        'Record delivered messages (a keyword where the server keeps one, and the state) and never post them again.',
      ),
    keyword: flag.optional().describe('Delivery keyword; default $mailsift-fwd-<rule name>.'),
  });
}

export type WebhookAction = output<ReturnType<typeof webhookSchema>>;

/** The keyword that records a delivery by this rule, so no run posts the message again. */
export function deliveryKeyword(ruleName: string, action: WebhookAction): string {
  return action.keyword ?? `$mailsift-fwd-${ruleName}`;
}

/**
 * Posts each message to a webhook once: a 2xx is recorded (state store, and a keyword the rule's SEARCH excludes
 * where the server keeps keywords), so reruns, retries and overlapping runs do not post it again. Later actions
 * apply to delivered messages only.
 */
export const webhook = defineAction({
  key: 'webhook',
  schema: webhookSchema,
  removesMessages: false,
  describe: (action) => `webhook ${referenceText(action.url)}`,
  deliveryMark: (action, ruleName) => (action.dedupe ? deliveryKeyword(ruleName, action) : undefined),
  parameters: (action) =>
    [action.url, action.secret].flatMap((ref) =>
      ref && typeof ref === 'object' && 'parameter' in ref ? [ref.parameter] : [],
    ),
  apply: async (action, context) => {
    const { url, secret } = await resolveTarget(action, context);
    const host = new URL(url).host;
    if (context.dryRun || context.uids.length === 0)
      return { type: 'webhook', target: host, count: context.uids.length };
    const deliveries = await openDeliveries(
      context,
      action.dedupe ? deliveryKeyword(context.rule.name, action) : undefined,
    );
    const { messages, unreadable } = await context.session.fetch(context.uids, fetchItems(action));
    const split = await deliveries.split(messages);
    const texts = action.include.includes('text')
      ? await fetchTexts(context, split.toPost, action.maxTextLength)
      : undefined;
    const post = (message: FetchMessageObject) => postOne(action, context, { url, secret }, message, texts);
    const result = await deliverAll(split.toPost, context, deliveries, post);
    return outcome(host, split.deliveredBefore, result, unreadable);
  },
});

async function resolveTarget(action: WebhookAction, context: ActionContext) {
  const url = typeof action.url === 'string' ? action.url : await context.secrets.resolve(action.url);
  if (!isAllowedWebhookUrl(url)) {
    throw new MailsiftError(
      'the webhook URL must be https:// (http:// only for localhost) without credentials',
    );
  }
  return { url, secret: action.secret ? await context.secrets.resolve(action.secret) : undefined };
}

function fetchItems(action: WebhookAction) {
  const headers = (action.headers ?? []).map((name) => name.toLowerCase());
  return {
    flags: true,
    envelope: true,
    internalDate: true,
    bodyStructure: true,
    ...(headers.length > 0 ? { headers } : {}),
  } as const;
}

/** Posts one message; on a 2xx its Idempotency-Key and the receiver's status, else the reason. */
async function postOne(
  action: WebhookAction,
  context: ActionContext,
  target: { url: string; secret?: string },
  message: FetchMessageObject,
  texts: Map<number, { text: string; truncated: boolean }> | undefined,
): Promise<{ ok: true; idempotencyKey: string; status: number } | { ok: false; reason: string }> {
  const { mailbox, ruleset, rule } = context;
  const origin = {
    account: ruleset.account,
    ruleset: ruleset.name,
    rule: rule.name,
    mailbox: mailbox.path,
    uidValidity: mailbox.uidValidity,
  };
  const payload = buildPayload(message, origin, {
    text: texts ? (texts.get(message.uid) ?? null) : undefined,
    attachments: action.include.includes('attachments'),
    headers: (action.headers ?? []).length > 0,
  });
  const key = idempotencyKey({ ...origin, uid: message.uid });
  const result = await deliverWebhook({
    url: target.url,
    body: JSON.stringify(action.format === 'slack' ? toSlackMessage(payload) : payload),
    secret: target.secret,
    attempts: action.attempts,
    timeoutMs: action.timeoutSeconds * 1000,
    idempotencyKey: key,
  });
  return result.ok ? { ok: true, idempotencyKey: key, status: result.status } : result;
}

interface DeliveryResult {
  readonly delivered: number[];
  /** What the history keeps of each delivery (see ActionRecord.posted). */
  readonly posted: WebhookPost[];
  readonly failures: { uid: number; reason: string }[];
}

/** Posts `messages`, DELIVERY_CONCURRENCY at a time, recording each 2xx before the next post of its worker. */
async function deliverAll(
  messages: readonly FetchMessageObject[],
  context: ActionContext,
  deliveries: Delivered,
  post: (message: FetchMessageObject) => ReturnType<typeof postOne>,
): Promise<DeliveryResult> {
  const result: DeliveryResult = { delivered: [], posted: [], failures: [] };
  let recordFailure: unknown;
  let next = 0;
  const worker = async () => {
    // Once a delivery could not be recorded, posting more would post them again next run.
    while (next < messages.length && !recordFailure) {
      const message = messages[next++] as FetchMessageObject;
      if (context.shouldStop?.()) {
        result.failures.push({
          uid: message.uid,
          reason: 'not posted: the run ran out of time; the next run posts it',
        });
        continue;
      }
      const posted = await post(message);
      if (!posted.ok) {
        result.failures.push({ uid: message.uid, reason: posted.reason });
      } else {
        try {
          // Recorded right after the 2xx: only a failure between the two can make a later run post it again.
          await deliveries.record(message.uid);
          result.delivered.push(message.uid);
          result.posted.push({
            uid: message.uid,
            idempotencyKey: posted.idempotencyKey,
            status: posted.status,
          });
        } catch (error) {
          recordFailure = error;
          result.failures.push({
            uid: message.uid,
            reason: `posted, but the delivery could not be recorded (${(error as Error).message}); it may be posted again`,
          });
        }
      }
      context.progress?.(result.delivered.length + result.failures.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(DELIVERY_CONCURRENCY, messages.length) }, worker));
  deliveries.rethrowIfConnectionLost(recordFailure);
  return result;
}

function outcome(
  host: string,
  deliveredBefore: readonly number[],
  result: DeliveryResult,
  unreadable: readonly number[],
): ActionOutcome {
  // Never silently: an alert that cannot be read is a failed delivery, reported and tried again next run.
  const failures = [
    ...unreadable.map((uid) => ({ uid, reason: `not posted: ${UNREADABLE_REASON}` })),
    ...result.failures,
  ];
  const posted = [...result.posted].sort((a, b) => a.uid - b.uid);
  return {
    type: 'webhook',
    target: host,
    count: result.delivered.length,
    continueWith: [...deliveredBefore, ...result.delivered].sort((a, b) => a - b),
    failures,
    // Kept for the history up to a size a journal entry holds; beyond it, counts only.
    ...(posted.length > 0 && posted.length <= MAX_POSTS_KEPT ? { record: { posted } } : {}),
  };
}

/**
 * A webhook's URL as `mailsift test` shows it: its host, as a run's summary does (a URL may carry a token in its
 * path or query), or the name it is read from; never a secret's value.
 */
function referenceText(url: unknown): string {
  if (typeof url === 'string') return URL.canParse(url) ? new URL(url).host : 'webhook';
  if (url && typeof url === 'object' && 'parameter' in url) return String(url.parameter);
  if (url && typeof url === 'object' && 'env' in url) return `$${String(url.env)}`;
  return 'webhook';
}
