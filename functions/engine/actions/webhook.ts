import { ImapConnectError, MailsiftError } from '../../errors.ts';
import type { FetchMessageObject } from '../../imap/session.ts';
import type { WebhookAction } from '../../rules/schema.ts';
import { deliverWebhook, idempotencyKey } from '../../webhook/deliver.ts';
import { toSlackMessage, type WebhookPayload } from '../../webhook/payload.ts';
import { isAllowedWebhookUrl } from '../../webhook/url.ts';
import { type BodyNode, isAttachment, listAttachments, parseHeaderBlock } from '../client-checks.ts';
import { UNREADABLE_REASON } from '../unreadable.ts';
import type { ActionContext, ActionHandler } from './types.ts';

/** Messages posted at once; small, so one slow receiver cannot hold many open connections. */
const DELIVERY_CONCURRENCY = 4;
/**
 * Raw bytes fetched per character of `maxTextLength`: base64 and quoted-printable inflate text, HTML more.
 * The fetch is a partial `BODY.PEEK[part]<0.n>`: a 30 MB message never comes down whole.
 */
const RAW_BYTES_PER_CHAR = 6;

/** mailparser is loaded on first use: runs without a webhook (most cold starts) never pay for it. */
const loadParser = () => import('../../mail/parse.ts');

/** The keyword that records a delivery by this rule, so no run posts the message again. */
export function deliveryKeyword(ruleName: string, action: WebhookAction): string {
  return action.keyword ?? `$mailsift-fwd-${ruleName}`;
}

/** The part to read the text from: the first inline text/plain, else the first inline text/html. */
function findTextPart(root: BodyNode | undefined): BodyNode | undefined {
  const leaves: BodyNode[] = [];
  const walk = (node: BodyNode) => {
    if (node.childNodes) for (const child of node.childNodes) walk(child);
    else if (!isAttachment(node)) leaves.push(node);
  };
  if (root) walk(root);
  return leaves.find((n) => n.type === 'text/plain') ?? leaves.find((n) => n.type === 'text/html');
}

/** BODY section of a leaf; a message that is not multipart has its body as section 1 (RFC 3501 §6.4.5). */
function sectionOf(node: BodyNode): string {
  return node.part ?? '1';
}

async function fetchTexts(
  context: ActionContext,
  messages: readonly FetchMessageObject[],
  maxTextLength: number,
): Promise<Map<number, { text: string; truncated: boolean }>> {
  const cap = maxTextLength * RAW_BYTES_PER_CHAR;
  // One FETCH per distinct section (most messages share "1" or "1.1"), not one per message.
  const bySection = new Map<string, { uid: number; part: BodyNode }[]>();
  for (const message of messages) {
    const part = findTextPart(message.bodyStructure);
    if (!part) continue;
    const group = bySection.get(sectionOf(part)) ?? [];
    group.push({ uid: message.uid, part });
    bySection.set(sectionOf(part), group);
  }
  const texts = new Map<number, { text: string; truncated: boolean }>();
  for (const [section, group] of bySection) {
    const { messages: fetched } = await context.session.fetch(
      group.map((entry) => entry.uid),
      { bodyParts: [{ key: section, start: 0, maxLength: cap }] },
    );
    const rawByUid = new Map(
      fetched.map((m) => [m.uid, m.bodyParts?.get(section) ?? m.bodyParts?.get(section.toLowerCase())]),
    );
    for (const { uid, part } of group) {
      const raw = rawByUid.get(uid) ?? Buffer.alloc(0);
      const decoded = await (await loadParser()).decodeTextPart({
        contentType: part.type ?? 'text/plain',
        charset: part.parameters?.charset,
        encoding: part.encoding,
        raw,
      });
      const cut = decoded.length > maxTextLength || (part.size ?? 0) > raw.length;
      texts.set(uid, { text: decoded.slice(0, maxTextLength), truncated: cut });
    }
  }
  return texts;
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

async function runPool<T>(
  items: readonly T[],
  size: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, worker));
}

/**
 * Posts each message to a webhook once: a 2xx is recorded with a keyword the rule's SEARCH excludes, so
 * reruns, retries and overlapping runs do not post it again. Later actions apply to delivered messages only.
 */
export const applyWebhook: ActionHandler<WebhookAction> = async (action, context) => {
  const { session, mailbox, uids, dryRun, secrets } = context;
  const keyword = deliveryKeyword(context.ruleName, action);
  const url = typeof action.url === 'string' ? action.url : await secrets.resolve(action.url);
  if (!isAllowedWebhookUrl(url)) {
    throw new MailsiftError(
      'the webhook URL must be https:// (http:// only for localhost) without credentials',
    );
  }
  const secret = action.secret ? await secrets.resolve(action.secret) : undefined;
  if (dryRun || uids.length === 0) {
    return { type: 'webhook', target: new URL(url).host, count: uids.length, removesMessages: false };
  }
  if (action.dedupe) {
    try {
      session.assertCanStore([keyword]);
    } catch (error) {
      throw new MailsiftError(
        `${(error as Error).message}; the webhook needs it to post each message once ` +
          '(set dedupe: false to post anyway, at the risk of posting a message again on every run)',
        { cause: error },
      );
    }
  }
  const headerNames = (action.headers ?? []).map((name) => name.toLowerCase());
  const { messages: fetched, unreadable } = await session.fetch(uids, {
    flags: true,
    envelope: true,
    internalDate: true,
    bodyStructure: true,
    ...(headerNames.length > 0 ? { headers: headerNames } : {}),
  });
  // Delivered by an earlier run whose later actions were interrupted: pass them on, never post them again.
  // Without dedupe the keyword means nothing (it may be left from before the rule opted out).
  const isDelivered = (message: FetchMessageObject) => action.dedupe && Boolean(message.flags?.has(keyword));
  const deliveredBefore = fetched.filter(isDelivered).map((message) => message.uid);
  const messages = fetched.filter((message) => !isDelivered(message));
  const texts = action.include.includes('text')
    ? await fetchTexts(context, messages, action.maxTextLength)
    : undefined;

  const delivered: number[] = [];
  // Never silently: an alert that cannot be read is a failed delivery, reported and tried again next run.
  const failures: { uid: number; reason: string }[] = unreadable.map((uid) => ({
    uid,
    reason: `not posted: ${UNREADABLE_REASON}`,
  }));
  let storeFailure: unknown;
  await runPool(messages, DELIVERY_CONCURRENCY, async (message) => {
    if (storeFailure) return; // the mailbox stopped taking keywords: posting more would post them twice
    if (context.shouldStop?.()) {
      failures.push({
        uid: message.uid,
        reason: 'not posted: the run ran out of time; the next run posts it',
      });
      return;
    }
    const text = texts?.get(message.uid);
    const payload: WebhookPayload = {
      version: 1,
      account: context.ruleset.account,
      ruleset: context.ruleset.name,
      rule: context.ruleName,
      mailbox: mailbox.path,
      uidValidity: mailbox.uidValidity.toString(),
      uid: message.uid,
      messageId: message.envelope?.messageId ?? null,
      date: isoOrNull(message.envelope?.date),
      receivedAt: isoOrNull(message.internalDate),
      from: addresses(message.envelope?.from),
      to: addresses(message.envelope?.to),
      cc: addresses(message.envelope?.cc),
      subject: message.envelope?.subject ?? '',
      ...(texts ? { text: text?.text ?? '', truncated: text?.truncated ?? false } : {}),
      ...(action.include.includes('attachments')
        ? {
            attachments: listAttachments(message.bodyStructure).map((a) => ({
              filename: a.filename ?? null,
              contentType: a.type,
              size: a.size,
            })),
          }
        : {}),
      ...(headerNames.length > 0 ? { headers: Object.fromEntries(parseHeaderBlock(message.headers)) } : {}),
    };
    const body = JSON.stringify(action.format === 'slack' ? toSlackMessage(payload) : payload);
    const result = await deliverWebhook({
      url,
      body,
      secret,
      attempts: action.attempts,
      timeoutMs: action.timeoutSeconds * 1000,
      idempotencyKey: idempotencyKey({
        account: context.ruleset.account,
        mailbox: mailbox.path,
        uidValidity: mailbox.uidValidity,
        uid: message.uid,
        rule: context.ruleName,
      }),
    });
    if (!result.ok) {
      failures.push({ uid: message.uid, reason: result.reason });
      context.progress?.(delivered.length + failures.length);
      return;
    }
    // Recorded right after the 2xx: only a failure between the two can make a later run post it again.
    if (action.dedupe) {
      try {
        await session.storeFlags([message.uid], 'add', [keyword]);
      } catch (error) {
        storeFailure = error;
        failures.push({
          uid: message.uid,
          reason: `posted, but the delivery keyword could not be stored (${(error as Error).message}); it may be posted again`,
        });
        return;
      }
    }
    delivered.push(message.uid);
    context.progress?.(delivered.length + failures.length);
  });
  if (storeFailure instanceof ImapConnectError) throw storeFailure;
  return {
    type: 'webhook',
    target: new URL(url).host,
    count: delivered.length,
    removesMessages: false,
    continueWith: [...deliveredBefore, ...delivered].sort((a, b) => a - b),
    failures,
  };
};
