/**
 * A loopback proxy between mailsift and Dovecot that breaks connections on command. It terminates TLS with
 * the test certificate (the client still verifies it) and talks plaintext to Dovecot's loopback listener, so
 * it sees every IMAP command and every tagged answer, literals included, and can:
 * - cut the connection instead of forwarding the Nth command (`before`: the server never sees it), or after
 *   the server answered it without passing the answer on (`answered`: done, but the client never learns);
 * - stall after the Nth command: keep the connection open and forward nothing more.
 * Counting is over the whole proxy lifetime, connection by connection, so a run's Nth command is well defined.
 * A `behaviour` can make Dovecot act like another server: rewrite its lines, answer some commands itself.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';

export type Fault =
  | { readonly kind: 'none' }
  | { readonly kind: 'cut'; readonly at: number; readonly when: 'before' | 'answered' }
  | { readonly kind: 'stall'; readonly at: number }
  /** Instead of the Nth command, the server says `* BYE text` and hangs up (Exchange: `AccessTokenExpired`). */
  | { readonly kind: 'bye'; readonly at: number; readonly text: string; readonly onBye?: () => void };

/** How the proxy makes Dovecot look like another server (see exchange-like.ts). */
export interface ServerBehaviour {
  /** Rewrites one line (or line plus literals) from the server before the client sees it. */
  readonly fromServer?: (unit: string) => string;
  /** The answer to send instead of forwarding a command (`tag` and the line given), or undefined to forward. */
  readonly answer?: (tag: string, line: string) => string | undefined;
  /** Rewrites a command line (one without literals) before the server sees it. */
  readonly toServer?: (line: string) => string;
}

export interface FaultProxy {
  readonly port: number;
  /** What the next connections get; counting starts again from 1. */
  arm(fault: Fault): void;
  /** Commands forwarded so far since `arm` (all connections). */
  commands(): readonly string[];
  /** The status (OK, NO, BAD) the server answered each of `commands()` with, where it answered. */
  statuses(): readonly (string | undefined)[];
  /** The command at which the fault struck, if it did. */
  struck(): string | undefined;
  close(): Promise<void>;
}

/**
 * Splits an IMAP stream into complete lines, each with any literals (`{n}` / `{n+}` then n bytes) it
 * carries, so that a literal's content is never mistaken for a command or a tagged answer.
 */
class ImapLineSplitter {
  private buffer = Buffer.alloc(0);

  /** Feeds bytes; returns the complete units (line plus literals, CRLF-terminated) now available. */
  push(data: Buffer): Buffer[] {
    this.buffer = Buffer.concat([this.buffer, data]);
    const units: Buffer[] = [];
    let start = 0;
    let scan = 0;
    for (;;) {
      const end = this.buffer.indexOf('\r\n', scan);
      if (end < 0) break;
      const literal = /\{(\d+)\+?\}$/.exec(this.buffer.subarray(scan, end).toString('latin1'));
      if (literal) {
        const next = end + 2 + Number(literal[1]);
        if (next > this.buffer.length) break; // wait for the rest of the literal
        scan = next;
        continue;
      }
      units.push(this.buffer.subarray(start, end + 2));
      start = end + 2;
      scan = start;
    }
    this.buffer = this.buffer.subarray(start);
    return units;
  }
}

export async function startFaultProxy(options: {
  readonly target: number;
  readonly tls: { cert: string; key: string };
  readonly behaviour?: ServerBehaviour;
}): Promise<FaultProxy> {
  const behaviour = options.behaviour ?? {};
  let fault: Fault = { kind: 'none' };
  let commands: string[] = [];
  let statuses: (string | undefined)[] = [];
  let struck: string | undefined;
  const sockets = new Set<Socket | TLSSocket>();

  const server = createServer(options.tls, (client) => {
    const upstream = connect(options.target, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    client.on('error', () => {});
    upstream.on('error', () => {});
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());

    let stalled = false;
    /** Index in `commands` of each tag in flight on this connection. */
    const pending = new Map<string, number>();
    /** The tag whose answer must not reach the client (an `answered` cut). */
    let withheldTag: string | undefined;
    const fromClient = new ImapLineSplitter();
    const fromServer = new ImapLineSplitter();

    client.on('data', (data: Buffer) => {
      for (const unit of fromClient.push(data)) {
        if (stalled) return;
        const line = unit.toString('latin1').split('\r\n')[0] ?? '';
        // A continuation of an AUTHENTICATE exchange (an empty line or base64) is not a command.
        const isCommand = /^[A-Za-z0-9.]+ [A-Za-z]/.test(line);
        if (!isCommand) {
          upstream.write(unit);
          continue;
        }
        commands.push(line);
        const number = commands.length;
        pending.set(line.split(' ')[0] ?? '', number - 1);
        if (fault.kind === 'cut' && fault.at === number && fault.when === 'before') {
          struck = line;
          cut();
          return;
        }
        if (fault.kind === 'bye' && fault.at === number) {
          struck = line;
          fault.onBye?.();
          client.end(`* BYE ${fault.text}\r\n`, () => cut());
          return;
        }
        if (fault.kind === 'cut' && fault.at === number && fault.when === 'answered') {
          struck = line;
          withheldTag = line.split(' ')[0];
        }
        const own = behaviour.answer?.(line.split(' ')[0] ?? '', line);
        if (own !== undefined) {
          statuses[number - 1] = own.split(' ')[1]?.toUpperCase();
          client.write(own);
          continue;
        }
        const rewritten = behaviour.toServer && !/\{\d+\+?\}\r\n/.test(unit.toString('latin1'));
        upstream.write(rewritten ? Buffer.from(`${behaviour.toServer?.(line)}\r\n`, 'latin1') : unit);
        if (fault.kind === 'stall' && fault.at === number) {
          struck = line;
          stalled = true;
        }
      }
    });
    upstream.on('data', (data: Buffer) => {
      for (const unit of fromServer.push(data)) {
        if (stalled) return;
        const [tag = '', status] = unit.toString('latin1').split(' ');
        const index = pending.get(tag);
        if (index !== undefined) statuses[index] = status?.toUpperCase();
        if (withheldTag !== undefined && tag === withheldTag) {
          cut();
          return;
        }
        client.write(
          behaviour.fromServer ? Buffer.from(behaviour.fromServer(unit.toString('latin1')), 'latin1') : unit,
        );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return {
    port: address.port,
    arm(next) {
      fault = next;
      commands = [];
      statuses = [];
      struck = undefined;
    },
    commands: () => commands,
    statuses: () => statuses,
    struck: () => struck,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A fault proxy in front of a test Dovecot's plaintext listener, with its certificate (and a behaviour, if any). */
export async function startFaultProxyFor(
  dovecot: { readonly imapPort: number; readonly certificate: string; readonly keyFile: string },
  behaviour?: ServerBehaviour,
): Promise<FaultProxy> {
  return await startFaultProxy({
    target: dovecot.imapPort,
    tls: { cert: dovecot.certificate, key: readFileSync(dovecot.keyFile, 'utf8') },
    behaviour,
  });
}
