import { createHash, createHmac } from 'node:crypto';

/** First wait before a retry; doubled each time, with full jitter (a random wait up to the bound). */
const BASE_DELAY_MS = 500;
/** Longest wait between tries, including a server's Retry-After. */
const MAX_DELAY_MS = 30_000;

export interface DeliveryRequest {
  readonly url: string;
  readonly body: string;
  readonly idempotencyKey: string;
  readonly secret?: string;
  readonly attempts: number;
  readonly timeoutMs: number;
}

export type DeliveryResult =
  | { readonly ok: true; readonly status: number; readonly attempts: number }
  | { readonly ok: false; readonly reason: string; readonly attempts: number };

/** Stable across runs and retries, so receivers can drop duplicates. */
export function idempotencyKey(parts: {
  account: string;
  mailbox: string;
  uidValidity: bigint;
  uid: number;
  rule: string;
}): string {
  const text = [
    parts.account,
    parts.mailbox,
    parts.uidValidity.toString(),
    String(parts.uid),
    parts.rule,
  ].join('\0');
  return createHash('sha256').update(text).digest('hex');
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`, as README documents for receivers. */
export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** The host of a URL, the only part of it we ever show (paths and queries often carry tokens). */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(invalid URL)';
  }
}

/** Seconds or an HTTP date (RFC 9110 §10.2.3) to milliseconds, capped; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), MAX_DELAY_MS) : undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * POSTs one payload: retries network errors, 5xx and 429 with exponential backoff and jitter (honouring
 * Retry-After), gives up at once on any other 4xx. Never throws; never reports the URL beyond its host.
 */
export async function deliverWebhook(request: DeliveryRequest): Promise<DeliveryResult> {
  const host = hostOf(request.url);
  let reason = '';
  for (let attempt = 1; attempt <= request.attempts; attempt++) {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'mailsift',
      'idempotency-key': request.idempotencyKey,
    };
    if (request.secret) {
      headers['x-mailsift-signature'] = signatureHeader(
        request.secret,
        request.body,
        Math.floor(Date.now() / 1000),
      );
    }
    let wait: number | undefined;
    try {
      const response = await fetch(request.url, {
        method: 'POST',
        headers,
        body: request.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(request.timeoutMs),
      });
      await response.arrayBuffer().catch(() => undefined);
      if (response.status >= 200 && response.status < 300)
        return { ok: true, status: response.status, attempts: attempt };
      reason = `${host} answered ${response.status}`;
      if (response.status !== 429 && response.status < 500) return { ok: false, reason, attempts: attempt };
      wait = retryAfterMs(response.headers.get('retry-after'));
    } catch (error) {
      // fetch wraps network failures: the cause names them (ECONNREFUSED, a refused port, …).
      const { cause } = error as { cause?: { code?: string; message?: string } };
      const detail = cause?.code ?? cause?.message ?? (error as Error).name;
      reason = `${host} could not be reached (${detail})`;
    }
    if (attempt < request.attempts) {
      await sleep(wait ?? Math.random() * Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (attempt - 1)));
    }
  }
  return { ok: false, reason: `${reason} after ${request.attempts} attempts`, attempts: request.attempts };
}
