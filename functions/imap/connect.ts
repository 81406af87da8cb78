import { rootCertificates } from 'node:tls';
import { ImapFlow } from 'imapflow';
import { ImapAuthError, ImapConnectError, ImapTlsError } from '../errors.ts';
import { type ImapFlowCommandError, statusCodeOf, textOf } from './imap-errors.ts';
import { newWireRecord, recordCommandLine, type WireRecord } from './wire-record.ts';

/** How to reach and log in to one IMAP account. Built from an accounts file or a secret store. */
export interface ImapAccount {
  readonly host: string;
  readonly port: number;
  /** `implicit`: TLS from the first byte (993). `starttls`: plain connect, then STARTTLS is required. */
  readonly tls: 'implicit' | 'starttls';
  readonly user: string;
  /** The password, for LOGIN or AUTHENTICATE PLAIN; absent where `tokens` sign in. */
  readonly password?: string;
  /** OAuth2: access tokens for SASL OAUTHBEARER (RFC 7628) or XOAUTH2, whichever the server offers. */
  readonly tokens?: TokenSource;
  /** Extra trusted CA certificate(s), PEM, added to the system roots. */
  readonly ca?: string;
}

/** Gives an access token; never `refused`, the one the server has just turned down. */
export interface TokenSource {
  token(refused?: string): Promise<string>;
}

export interface SessionTimeouts {
  /** TCP + TLS connect. */
  readonly connectMs: number;
  /** Server greeting after connect. */
  readonly greetingMs: number;
  /** Longest silence while a command is running. imapflow's own default is 5 minutes. */
  readonly socketMs: number;
}

export const DEFAULT_TIMEOUTS: SessionTimeouts = { connectMs: 15_000, greetingMs: 15_000, socketMs: 60_000 };

/**
 * Largest literal we accept from the server. imapflow's default is 1 GB; we only ever fetch headers
 * and BODYSTRUCTURE, so a much smaller cap bounds memory against a broken or hostile server.
 */
const MAX_LITERAL_BYTES = 64 * 1024 * 1024;

const TLS_ERROR_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);

const TIMEOUT_CODES = new Set([
  'ETIMEOUT',
  'ETIMEDOUT',
  'GREETING_TIMEOUT',
  'CONNECT_TIMEOUT',
  'UPGRADE_TIMEOUT',
]);

/**
 * Connects, secures and logs in, with certificates verified and STARTTLS, where asked for, required: imapflow
 * treats it as opportunistic unless told otherwise, and a downgrade must fail instead.
 * @throws ImapConnectError, ImapTlsError or ImapAuthError; none of them carries the password.
 */
export async function connectClient(
  account: ImapAccount,
  timeouts: SessionTimeouts,
): Promise<{ client: ImapFlow; wire: WireRecord }> {
  if (!account.tokens)
    return await connectWith(account, timeouts, { user: account.user, pass: account.password });
  const accessToken = await account.tokens.token();
  try {
    return await connectWith(account, timeouts, { user: account.user, accessToken });
  } catch (error) {
    if (!(error instanceof ImapAuthError)) throw error;
    // A cached token the server no longer takes (revoked, or its clock is ahead): one new token, one more try.
    const fresh = await account.tokens.token(accessToken);
    return await connectWith(account, timeouts, { user: account.user, accessToken: fresh });
  }
}

async function connectWith(
  account: ImapAccount,
  timeouts: SessionTimeouts,
  auth: { user: string; pass?: string; accessToken?: string },
): Promise<{ client: ImapFlow; wire: WireRecord }> {
  const wire = newWireRecord();
  const client: ImapFlow = new ImapFlow({
    host: account.host,
    port: account.port,
    secure: account.tls === 'implicit',
    ...(account.tls === 'starttls' ? { doSTARTTLS: true } : {}),
    auth,
    tls: {
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      ...(account.ca ? { ca: [...rootCertificates, account.ca] } : {}),
    },
    connectionTimeout: timeouts.connectMs,
    greetingTimeout: timeouts.greetingMs,
    socketTimeout: timeouts.socketMs,
    maxLiteralSize: MAX_LITERAL_BYTES,
    disableAutoIdle: true,
    disableCompression: true,
    disableAutoEnable: true,
    clientInfo: { name: 'mailsift' },
    logger: wireLogger(wire, account, (reason) => {
      wire.violation = reason;
      setImmediate(() => client.close());
    }),
  });
  // An 'error' event without a listener would kill the process; failures surface through the
  // promise of the command that was running instead.
  client.on('error', () => {});
  const started = Date.now();
  try {
    await client.connect();
  } catch (error) {
    client.close();
    if (wire.violation) throw refused(account, `the server ${wire.violation}`);
    // A BYE's reason is the server's own word on why it hung up: worth showing, as quoted data.
    throw classifyConnectError(
      error as ImapFlowCommandError,
      account,
      client.byeReason,
      Date.now() - started,
    );
  }
  if (account.tls === 'starttls' && !client.secureConnection) {
    // Defence in depth: whatever path imapflow took, a STARTTLS account never runs in the clear.
    client.close();
    throw new ImapTlsError(`STARTTLS is required for ${where(account)} but the session is not encrypted`);
  }
  await enableModseqs(client);
  return { client, wire };
}

/**
 * Incremental runs build on HIGHESTMODSEQ in every SELECT and on SEARCH MODSEQ (CONDSTORE, RFC 7162); ENABLE is
 * the one way to turn it on (§3.1.1) that needs no mailbox. QRESYNC where offered: it includes CONDSTORE
 * (§3.2.3), and the server then reports removed messages as one VANISHED UID set instead of an EXPUNGE line per
 * message (§3.2.10), which is most of what a client parses after moving thousands. Not UTF8=ACCEPT or IMAP4rev2,
 * which imapflow would add: they change how the server answers. A server that refuses leaves runs on full scans.
 */
async function enableModseqs(client: ImapFlow): Promise<void> {
  if (!client.capabilities.has('ENABLE')) return;
  const extension = ['QRESYNC', 'CONDSTORE'].find((name) => client.capabilities.has(name));
  if (!extension) return;
  await (client as unknown as { run(command: string, list: string[]): Promise<unknown> }).run('ENABLE', [
    extension,
  ]);
}

/** imapflow's logger, reading the wire: commands sent, failures it swallowed, and what no honest server does. */
function wireLogger(wire: WireRecord, account: ImapAccount, refuse: (reason: string) => void) {
  return {
    debug: (entry: { src?: string; msg?: string }) => {
      // STARTTLS takes no continuation (RFC 3501 §6.2.1): a "+" answer would leave the command waiting
      // for the socket timeout, so end it now.
      if (entry.src === 's' && entry.msg?.startsWith('+') && wire.commands.at(-1) === 'STARTTLS') {
        refuse('answered STARTTLS with a continuation request (+)');
      }
      // A PREAUTH greeting starts an authenticated session in the clear, where STARTTLS is no longer
      // allowed (RFC 3501 §7.1.4): taking it would skip TLS.
      if (entry.src === 's' && /^\* PREAUTH\b/i.test(entry.msg ?? '') && account.tls === 'starttls') {
        refuse('greeted with PREAUTH, an unencrypted session that would skip STARTTLS');
      }
      if (entry.src === 'c' && typeof entry.msg === 'string') recordCommandLine(wire, entry.msg);
    },
    info: () => {},
    warn: (entry: { err?: unknown }) => {
      if (entry?.err) wire.lastWarning = entry.err;
    },
    error: () => {},
  };
}

function where(account: ImapAccount): string {
  return `${account.host}:${account.port}`;
}

function refused(account: ImapAccount, what: string): ImapTlsError {
  return new ImapTlsError(`STARTTLS is required for ${where(account)} but ${what}; no credentials were sent`);
}

function classifyConnectError(
  error: ImapFlowCommandError,
  account: ImapAccount,
  bye: string | undefined,
  waitedMs: number,
): Error {
  const code = error.code ?? '';
  if (error.authenticationFailed || statusCodeOf(error) === 'AUTHENTICATIONFAILED') {
    const serverText = textOf(error);
    const advice = account.tokens
      ? "the token server's token was refused: check that the app may open this mailbox " +
        '(Exchange: the service principal needs FullAccess to it; Google: the IMAP scope)'
      : "check the account's user and password";
    return new ImapAuthError(
      `login to ${where(account)} as ${JSON.stringify(account.user)} was rejected` +
        `${serverText ? `: ${JSON.stringify(serverText)}` : ''}; ${advice}`,
    );
  }
  if (error.tlsFailed) return refused(account, `could not be established (${error.message})`);
  if (TIMEOUT_CODES.has(code)) {
    return new ImapConnectError(
      // The time really waited, measured: what the user compares with the timeouts they set.
      `${where(account)} did not answer in time (${code}, after ${(waitedMs / 1000).toFixed(1)} s); the run gave up instead of waiting`,
    );
  }
  if (TLS_ERROR_CODES.has(code) || code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS')) {
    return new ImapTlsError(
      `TLS with ${where(account)} failed: ${code || error.message}` +
        (code.includes('CERT') || code.includes('ALTNAME')
          ? '; the certificate is not trusted for this host (name the server CA in the account as ca)'
          : ''),
    );
  }
  const said = bye ? `; the server said BYE ${JSON.stringify(bye)}` : '';
  return new ImapConnectError(`cannot connect to ${where(account)}: ${code || error.message}${said}`);
}
