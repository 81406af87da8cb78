/**
 * A fake IMAP server on 127.0.0.1 for behaviour Dovecot cannot be made to show (no STARTTLS, no keywords,
 * silence, a dropped connection). It records every byte it receives, so tests can assert what was sent.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, TLSSocket } from 'node:tls';

export interface FakeImapServer {
  readonly port: number;
  /** Everything received so far, as latin1 text. */
  received(): string;
  close(): Promise<void>;
}

export interface FakeImapOptions {
  /** Sent on connect; null sends nothing (a silent server). */
  readonly greeting: string | null;
  /** Called with each command line (without CRLF). */
  readonly answer: (line: string, socket: Socket) => void;
  /** Serve implicit TLS with this certificate and key. */
  readonly tls?: { cert: string; key: string };
}

/** Calls `onLine` with each CRLF-terminated line (without the CRLF) of a stream fed in chunks. */
function lineReader(onLine: (line: string) => void): (data: Buffer) => void {
  let buffer = '';
  return (data) => {
    buffer += data.toString('latin1');
    for (let end = buffer.indexOf('\r\n'); end >= 0; end = buffer.indexOf('\r\n')) {
      onLine(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  };
}

export async function startFakeImap(options: FakeImapOptions): Promise<FakeImapServer> {
  let received = '';
  const sockets = new Set<Socket>();
  const onConnection = (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    if (options.greeting !== null) socket.write(options.greeting);
    const read = lineReader((line) => options.answer(line, socket));
    socket.on('data', (data: Buffer) => {
      received += data.toString('latin1');
      read(data);
    });
  };
  const server: Server = options.tls
    ? createTlsServer(options.tls, onConnection)
    : createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return {
    port: address.port,
    received: () => received,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Answers the commands imapflow sends to log in and select INBOX, like a minimal server would; `extra`
 * handles the rest (return true when it answered).
 */
export function minimalImap(
  select: string,
  extra: (tag: string, command: string, line: string, socket: Socket) => boolean = () => false,
): (line: string, socket: Socket) => void {
  return (line, socket) => {
    const [tag = '*', rawCommand = ''] = line.split(' ');
    const command = rawCommand.toUpperCase();
    const uidCommand = command === 'UID' ? `UID ${(line.split(' ')[2] ?? '').toUpperCase()}` : command;
    if (extra(tag, uidCommand, line, socket)) return;
    switch (uidCommand) {
      case 'CAPABILITY':
        socket.write(`* CAPABILITY IMAP4rev1 AUTH=PLAIN UIDPLUS\r\n${tag} OK done\r\n`);
        return;
      case 'LOGIN':
      case 'AUTHENTICATE':
        socket.write(`${tag} OK [CAPABILITY IMAP4rev1 UIDPLUS] logged in\r\n`);
        return;
      case 'LIST':
        socket.write(`* LIST () "/" INBOX\r\n${tag} OK done\r\n`);
        return;
      case 'SELECT':
      case 'EXAMINE':
        socket.write(`${select}${tag} OK [READ-WRITE] selected\r\n`);
        return;
      case 'LOGOUT':
        socket.end(`* BYE bye\r\n${tag} OK bye\r\n`);
        return;
      default:
        socket.write(`${tag} OK done\r\n`);
    }
  };
}

export interface FakeStartTlsServer {
  readonly port: number;
  /** Bytes received before TLS, and decrypted bytes received after it (latin1). */
  plaintext(): string;
  secured(): string;
  close(): Promise<void>;
}

export interface FakeStartTlsOptions {
  readonly greeting: string;
  /** Answer to STARTTLS (everything up to and including the tagged reply); `upgrade` starts TLS after it. */
  readonly onStartTls: (tag: string) => { readonly reply: string; readonly upgrade: boolean };
  /** Certificate and key the server presents once TLS starts. */
  readonly tls: { cert: string; key: string };
  /** Capabilities before TLS (default `IMAP4rev1 STARTTLS LOGINDISABLED`). */
  readonly capabilities?: string;
  /** Capabilities after TLS (default `IMAP4rev1 AUTH=PLAIN UIDPLUS`). */
  readonly securedCapabilities?: string;
}

/**
 * A server that speaks plaintext IMAP until STARTTLS, answers it as scripted (OK, NO, BAD, `+`, with
 * injected data…), then, when told to, upgrades the same socket to TLS and answers like `minimalImap`.
 */
export async function startFakeStartTls(options: FakeStartTlsOptions): Promise<FakeStartTlsServer> {
  let plaintext = '';
  let secured = '';
  const sockets = new Set<Socket>();
  const capabilities = options.capabilities ?? 'IMAP4rev1 STARTTLS LOGINDISABLED';
  const securedCapabilities = options.securedCapabilities ?? 'IMAP4rev1 AUTH=PLAIN UIDPLUS';
  const afterTls = minimalImap('* 0 EXISTS\r\n* OK [UIDVALIDITY 1] ok\r\n', (tag, command, _line, socket) => {
    if (command !== 'CAPABILITY') return false;
    socket.write(`* CAPABILITY ${securedCapabilities}\r\n${tag} OK done\r\n`);
    return true;
  });
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.write(options.greeting);
    const onPlain = lineReader((line) => {
      const [tag = '*', command = ''] = line.split(' ');
      switch (command.toUpperCase()) {
        case 'CAPABILITY':
          socket.write(`* CAPABILITY ${capabilities}\r\n${tag} OK done\r\n`);
          return;
        case 'STARTTLS': {
          const { reply, upgrade } = options.onStartTls(tag);
          socket.write(reply);
          if (!upgrade) return;
          socket.removeListener('data', onData);
          const secure = new TLSSocket(socket, { isServer: true, ...options.tls });
          secure.on('error', () => {});
          const onSecure = lineReader((securedLine) => afterTls(securedLine, secure as unknown as Socket));
          secure.on('data', (chunk: Buffer) => {
            secured += chunk.toString('latin1');
            onSecure(chunk);
          });
          return;
        }
        case 'LOGOUT':
          socket.end(`* BYE bye\r\n${tag} OK bye\r\n`);
          return;
        default:
          socket.write(`${tag} OK done\r\n`);
      }
    });
    const onData = (data: Buffer) => {
      plaintext += data.toString('latin1');
      onPlain(data);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return {
    port: address.port,
    plaintext: () => plaintext,
    secured: () => secured,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
