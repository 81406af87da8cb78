/**
 * STARTTLS against hostile servers, after the test cases of "Why TLS is better without STARTTLS"
 * (Poddebniak et al., USENIX Security 2021), and certificate failures over implicit TLS. Each fake server
 * records every byte it received, so the tests can assert that no credential ever reached it in the clear.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ImapConnectError, ImapTlsError } from '../../functions/errors.ts';
import { DEFAULT_TIMEOUTS, type ImapAccount, ImapSession } from '../../functions/imap/session.ts';
import { makeExpired, makeSelfSigned, type TestCertificate } from '../helpers/certificates.ts';
import {
  type FakeStartTlsOptions,
  minimalImap,
  startFakeImap,
  startFakeStartTls,
} from '../helpers/fake-imap.ts';

const USER = 'alice';
const PASSWORD = 'sup3r-"secret"-pässword';
const CREDENTIAL_TRACES = [
  PASSWORD,
  Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64'),
  Buffer.from(PASSWORD).toString('base64'),
];

let certificate: TestCertificate;
let expired: TestCertificate & { ca: string };
before(() => {
  const dir = mkdtempSync(join(tmpdir(), 'mailsift-tls-'));
  certificate = makeSelfSigned(dir);
  expired = makeExpired(dir);
});

function account(port: number, overrides: Partial<ImapAccount> = {}): ImapAccount {
  return {
    host: '127.0.0.1',
    port,
    tls: 'starttls',
    user: USER,
    password: PASSWORD,
    ca: certificate.cert,
    ...overrides,
  };
}

function assertNoCredentials(received: string): void {
  for (const trace of CREDENTIAL_TRACES)
    assert.ok(!received.includes(trace), 'a credential reached the server');
  assert.doesNotMatch(received, /\b(LOGIN|AUTHENTICATE)\b/i);
}

/** Connects with the default (production) timeouts; returns the error and how long failing took. */
async function refusedBy(script: Omit<FakeStartTlsOptions, 'tls'>) {
  const server = await startFakeStartTls({ ...script, tls: certificate });
  const started = Date.now();
  try {
    const error = await ImapSession.connect(account(server.port), DEFAULT_TIMEOUTS).then(
      async (session) => {
        await session.close();
        return undefined;
      },
      (failure: unknown) => failure,
    );
    return { error, ms: Date.now() - started, plaintext: server.plaintext(), secured: server.secured() };
  } finally {
    await server.close();
  }
}

const GREETING = '* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] fake ready\r\n';

describe('STARTTLS against a hostile server', () => {
  for (const [name, reply] of [
    ['NO', (tag: string) => `${tag} NO STARTTLS is not available today\r\n`],
    ['BAD', (tag: string) => `${tag} BAD unknown command\r\n`],
  ] as const) {
    it(`refuses a server that answers STARTTLS with ${name}, sending no credential`, async () => {
      const result = await refusedBy({
        greeting: GREETING,
        onStartTls: (tag) => ({ reply: reply(tag), upgrade: false }),
      });
      assert.ok(result.error instanceof ImapTlsError, String(result.error));
      assert.match(result.error.message, /STARTTLS is required/);
      assertNoCredentials(result.plaintext);
    });
  }

  it('refuses a server that answers STARTTLS with a continuation (+), fast, sending no credential', async () => {
    const result = await refusedBy({
      greeting: GREETING,
      onStartTls: () => ({ reply: '+ go ahead\r\n', upgrade: false }),
    });
    assert.ok(
      result.error instanceof ImapTlsError || result.error instanceof ImapConnectError,
      String(result.error),
    );
    assertNoCredentials(result.plaintext);
    // Not after the socket timeout (60 s here; imapflow's own default is 5 minutes).
    assert.ok(result.ms < 5000, `took ${result.ms} ms`);
  });

  it('refuses a PREAUTH greeting on a STARTTLS connection (it would skip TLS)', async () => {
    const result = await refusedBy({
      greeting: '* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] logged in already\r\n',
      onStartTls: (tag) => ({ reply: `${tag} BAD already authenticated\r\n`, upgrade: false }),
    });
    assert.ok(result.error instanceof ImapTlsError, String(result.error));
    assert.match(result.error.message, /greeted with PREAUTH/);
    assertNoCredentials(result.plaintext);
    // Nothing but the STARTTLS attempt may follow in the clear: no SELECT, no SEARCH on an unprotected line.
    assert.doesNotMatch(result.plaintext, /SELECT|EXAMINE|SEARCH|FETCH|LIST/i);
  });

  it('refuses a response injected after "OK Begin TLS" in the same packet', async () => {
    const result = await refusedBy({
      greeting: GREETING,
      onStartTls: (tag) => ({
        reply: `${tag} OK Begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n`,
        upgrade: true,
      }),
    });
    assert.ok(result.error instanceof ImapTlsError, String(result.error));
    assert.match(result.error.message, /injection|after the STARTTLS response/i);
    assertNoCredentials(result.plaintext + result.secured);
  });

  it('keeps nothing of what the server said before TLS: capabilities are read again inside TLS', async () => {
    const server = await startFakeStartTls({
      greeting: GREETING,
      tls: certificate,
      onStartTls: (tag) => ({
        // Injected before the tagged OK: a mailbox size, a message body and extra capabilities.
        reply:
          '* 7 EXISTS\r\n* 1 FETCH (UID 1 BODY[] {12}\r\nInjected!!\r\n)\r\n' +
          `* CAPABILITY IMAP4rev1 AUTH=PLAIN MOVE X-INJECTED\r\n${tag} OK Begin TLS\r\n`,
        upgrade: true,
      }),
    });
    try {
      const session = await ImapSession.connect(account(server.port), DEFAULT_TIMEOUTS);
      try {
        assert.equal(session.profile.capabilities.has('X-INJECTED'), false);
        assert.equal(session.profile.move, false);
        assert.equal(session.profile.uidPlus, true, 'the capabilities sent inside TLS');
        const inbox = await session.openMailbox('INBOX', true);
        assert.equal(inbox.exists, 0);
      } finally {
        await session.close();
      }
      assertNoCredentials(server.plaintext());
      // The credentials did go out, but only inside TLS.
      assert.match(server.secured(), /AUTHENTICATE PLAIN|LOGIN/);
    } finally {
      await server.close();
    }
  });
});

describe('certificates over implicit TLS', () => {
  /** An implicit-TLS fake server with `cert`; answers like a minimal IMAP server. */
  async function withServer(cert: TestCertificate, run: (port: number) => Promise<void>) {
    const server = await startFakeImap({
      greeting: '* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\r\n',
      answer: minimalImap(''),
      tls: { cert: cert.cert, key: cert.key },
    });
    try {
      await run(server.port);
      assertNoCredentials(server.received());
    } finally {
      await server.close();
    }
  }

  it('refuses an expired certificate, saying so, even from a trusted CA', async () => {
    await withServer(expired, async (port) => {
      await assert.rejects(
        ImapSession.connect(account(port, { tls: 'implicit', ca: expired.ca }), DEFAULT_TIMEOUTS),
        (error: unknown) => error instanceof ImapTlsError && /CERT_HAS_EXPIRED/.test(error.message),
      );
    });
  });

  it('refuses a self-signed certificate that is not the account CA, and accepts it once it is', async () => {
    await withServer(certificate, async (port) => {
      await assert.rejects(
        ImapSession.connect(account(port, { tls: 'implicit', ca: expired.ca }), DEFAULT_TIMEOUTS),
        (error: unknown) => error instanceof ImapTlsError && /SELF_SIGNED/.test(error.message),
      );
    });
    const server = await startFakeImap({
      greeting: '* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\r\n',
      answer: minimalImap(''),
      tls: { cert: certificate.cert, key: certificate.key },
    });
    try {
      const session = await ImapSession.connect(account(server.port, { tls: 'implicit' }), DEFAULT_TIMEOUTS);
      await session.close();
    } finally {
      await server.close();
    }
  });
});
