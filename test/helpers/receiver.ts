/** A real HTTP receiver on 127.0.0.1 that answers from a script and records every request it gets. */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface ReceivedRequest {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface Receiver {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Statuses for the next requests, in order; 200 once they run out. */
  respondWith(...statuses: (number | { status: number; headers: Record<string, string> })[]): void;
  /** Parsed JSON bodies of the requests so far. */
  payloads(): Record<string, unknown>[];
  close(): Promise<void>;
}

/** `delayMs`: how long it takes to answer each request (a slow receiver keeps a run busy for that long). */
export async function startReceiver(options: { delayMs?: number } = {}): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  let script: (number | { status: number; headers: Record<string, string> })[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      const next = script.shift() ?? 200;
      const { status, headers } = typeof next === 'number' ? { status: next, headers: {} } : next;
      const answer = () => response.writeHead(status, headers).end(status < 300 ? 'ok' : 'no');
      if (options.delayMs) setTimeout(answer, options.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return {
    url: `http://127.0.0.1:${address.port}/hooks/secret-path-token`,
    requests,
    respondWith: (...statuses) => {
      script = statuses;
    },
    payloads: () => requests.map((request) => JSON.parse(request.body) as Record<string, unknown>),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
