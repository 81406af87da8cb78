import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { CapabilityError, ImapAuthError, ImapConnectError, ImapTlsError } from '../../functions/errors.ts';
import { ImapSession } from '../../functions/imap/session.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { minimalImap, startFakeImap } from '../helpers/fake-imap.ts';

let dovecot: TestDovecot;
before(async () => {
  dovecot = await startDovecot();
});
after(async () => {
  await dovecot?.stop();
});

const FAST = { connectMs: 2000, greetingMs: 1000, socketMs: 2000 };

describe('ImapSession.connect', () => {
  it('logs in over implicit TLS, trusting the account CA', async () => {
    const user = dovecot.addUser();
    const session = await ImapSession.connect(dovecot.account(user), FAST);
    assert.equal(session.profile.uidPlus, true);
    await session.close();
  });

  it('logs in over STARTTLS and re-reads capabilities after TLS', async () => {
    const user = dovecot.addUser();
    const session = await ImapSession.connect(
      dovecot.account(user, { tls: 'starttls', port: dovecot.imapPort }),
      FAST,
    );
    assert.deepEqual(session.commands.slice(0, 3), ['ID', 'STARTTLS', 'CAPABILITY']);
    assert.equal(session.profile.capabilities.has('STARTTLS'), false);
    await session.close();
  });

  it('refuses a certificate no trusted CA signed, naming the problem', async () => {
    const user = dovecot.addUser();
    await assert.rejects(
      ImapSession.connect(dovecot.account(user, { ca: undefined }), FAST),
      (error: unknown) =>
        error instanceof ImapTlsError &&
        /DEPTH_ZERO_SELF_SIGNED_CERT; the certificate is not trusted/.test(error.message),
    );
  });

  it('refuses a certificate for another host name', async () => {
    const user = dovecot.addUser();
    // The certificate names localhost and 127.0.0.1, not 127.0.0.2 (which also reaches the loopback).
    await assert.rejects(
      ImapSession.connect(dovecot.account(user, { host: '127.0.0.2' }), FAST),
      (error: unknown) => error instanceof ImapTlsError && /ERR_TLS_CERT_ALTNAME_INVALID/.test(error.message),
    );
  });

  it('rejects a wrong password with ImapAuthError that does not contain it', async () => {
    const user = dovecot.addUser();
    const password = 'not-the "right" \\ pässword';
    // Default timeouts: Dovecot delays a failed login by 2 s (auth_failure_delay), as real servers do.
    await assert.rejects(ImapSession.connect(dovecot.account(user, { password })), (error: unknown) => {
      assert.ok(error instanceof ImapAuthError);
      assert.ok(!error.message.includes(password));
      assert.ok(!JSON.stringify(error).includes('pässword'));
      return true;
    });
  });

  it('reports a refused connection as ImapConnectError', async () => {
    const server = await startFakeImap({ greeting: null, answer: () => {} });
    const { port } = server;
    await server.close();
    await assert.rejects(
      ImapSession.connect({ host: '127.0.0.1', port, tls: 'implicit', user: 'u', password: 'p' }, FAST),
      (error: unknown) => error instanceof ImapConnectError && /ECONNREFUSED/.test(error.message),
    );
  });

  it('gives up on a server that never greets within the greeting timeout, and says how long it waited', async () => {
    const server = await startFakeImap({ greeting: null, answer: () => {} });
    try {
      const started = Date.now();
      let waited = Number.NaN;
      await assert.rejects(
        ImapSession.connect(
          { host: '127.0.0.1', port: server.port, tls: 'starttls', user: 'u', password: 'p' },
          { connectMs: 3000, greetingMs: 1000, socketMs: 3000 },
        ),
        (error: unknown) => {
          waited = Number(/after (\d+\.\d) s/.exec((error as Error).message)?.[1]);
          return error instanceof ImapConnectError && /GREETING_TIMEOUT/.test((error as Error).message);
        },
      );
      const elapsed = (Date.now() - started) / 1000;
      // The greeting timeout, not twice it, and what the message says is what passed.
      assert.ok(waited >= 1 && waited <= elapsed + 0.05, `waited ${waited} s of ${elapsed} s`);
      assert.ok(elapsed < 1.9, `${elapsed} s`);
    } finally {
      await server.close();
    }
  });

  it('refuses a STARTTLS account when the server does not offer STARTTLS, before sending credentials', async () => {
    const password = 'sup3r-secret';
    const server = await startFakeImap({
      greeting: '* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\r\n',
      answer: minimalImap(''),
    });
    try {
      await assert.rejects(
        ImapSession.connect(
          { host: '127.0.0.1', port: server.port, tls: 'starttls', user: 'alice', password },
          FAST,
        ),
        (error: unknown) => error instanceof ImapTlsError && /STARTTLS is required/.test(error.message),
      );
      assert.ok(!server.received().includes(password));
      assert.ok(!server.received().includes(Buffer.from(`\0alice\0${password}`).toString('base64')));
      assert.doesNotMatch(server.received(), /LOGIN|AUTHENTICATE/i);
    } finally {
      await server.close();
    }
  });
});

describe('ImapSession with a server that stops answering', () => {
  it('fails within the socket timeout when LOGIN is never answered', async () => {
    const server = await startFakeImap({
      greeting: '* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\r\n',
      // CAPABILITY is answered; everything else (ID, LOGIN, AUTHENTICATE) gets no answer at all.
      answer: minimalImap('', (_tag, command) => command !== 'CAPABILITY'),
      tls: { cert: dovecot.certificate, key: readFileSync(dovecot.keyFile, 'utf8') },
    });
    try {
      const started = Date.now();
      await assert.rejects(
        ImapSession.connect(
          {
            host: '127.0.0.1',
            port: server.port,
            tls: 'implicit',
            user: 'u',
            password: 'p',
            ca: dovecot.certificate,
          },
          { connectMs: 1000, greetingMs: 1000, socketMs: 1000 },
        ),
        (error: unknown) => error instanceof ImapConnectError,
      );
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 4000, `took ${elapsed} ms`);
    } finally {
      await server.close();
    }
  });
});

describe('ImapSession against a server without keyword support', () => {
  it('refuses to STORE a keyword PERMANENTFLAGS cannot keep, instead of letting it be dropped', async () => {
    const server = await startFakeImap({
      greeting: '* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\r\n',
      answer: minimalImap(
        '* FLAGS (\\Seen \\Deleted)\r\n* OK [PERMANENTFLAGS (\\Seen \\Deleted)] no keywords\r\n' +
          '* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 2] ok\r\n',
      ),
      tls: { cert: dovecot.certificate, key: readFileSync(dovecot.keyFile, 'utf8') },
    });
    try {
      const session = await ImapSession.connect(
        {
          host: '127.0.0.1',
          port: server.port,
          tls: 'implicit',
          user: 'u',
          password: 'p',
          ca: dovecot.certificate,
        },
        FAST,
      );
      const mailbox = await session.openMailbox('INBOX', false);
      assert.deepEqual([...mailbox.permanentFlags].sort(), ['\\Deleted', '\\Seen']);
      await assert.rejects(
        session.storeFlags([1], 'add', ['\\Seen', '$Invoice']),
        (error: unknown) =>
          error instanceof CapabilityError &&
          error.message === 'mailbox "INBOX" cannot store $Invoice (its PERMANENTFLAGS are \\Seen \\Deleted)',
      );
      await session.close();
      assert.doesNotMatch(server.received(), /STORE/);
    } finally {
      await server.close();
    }
  });
});

describe('ImapSession when the server drops the connection', () => {
  it('turns the next command into ImapConnectError, and the process survives', async () => {
    const server = await startFakeImap({
      greeting: '* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\r\n',
      answer: minimalImap('', (_tag, command, _line, socket) => {
        if (command !== 'SELECT') return false;
        socket.destroy();
        return true;
      }),
      tls: { cert: dovecot.certificate, key: readFileSync(dovecot.keyFile, 'utf8') },
    });
    try {
      const session = await ImapSession.connect(
        {
          host: '127.0.0.1',
          port: server.port,
          tls: 'implicit',
          user: 'u',
          password: 'p',
          ca: dovecot.certificate,
        },
        FAST,
      );
      await assert.rejects(
        session.openMailbox('INBOX', false),
        (error: unknown) => error instanceof ImapConnectError,
      );
      await session.close();
    } finally {
      await server.close();
    }
  });
});
