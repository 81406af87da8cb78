/**
 * A loopback stand-in for the SQS API (JSON 1.0 protocol: SendMessageBatch, ChangeMessageVisibility), so the
 * real SDK client in a bundle run by another process can talk to it: use `queueUrl` as the queue's URL and
 * `url` as AWS_ENDPOINT_URL_SQS.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';

export interface FakeSqs {
  readonly url: string;
  readonly queueUrl: string;
  /** SendMessageBatch entries received, in order. */
  readonly sent: { MessageBody: string; MessageGroupId: string; MessageDeduplicationId: string }[];
  /** ChangeMessageVisibility calls: receipt handle and the new timeout. */
  readonly visibility: { receiptHandle: string; seconds: number }[];
  close(): Promise<void>;
}

export async function startFakeSqs(): Promise<FakeSqs> {
  const sent: FakeSqs['sent'] = [];
  const visibility: FakeSqs['visibility'] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const target = String(request.headers['x-amz-target'] ?? '');
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      const reply = (status: number, payload: unknown) =>
        response
          .writeHead(status, { 'content-type': 'application/x-amz-json-1.0' })
          .end(JSON.stringify(payload));
      if (target === 'AmazonSQS.SendMessageBatch') {
        sent.push(...body.Entries);
        return reply(200, {
          // The SDK checks each body's MD5, as SQS returns it.
          Successful: body.Entries.map((entry: { Id: string; MessageBody: string }) => ({
            Id: entry.Id,
            MessageId: `m-${sent.length}-${entry.Id}`,
            MD5OfMessageBody: createHash('md5').update(entry.MessageBody).digest('hex'),
          })),
          Failed: [],
        });
      }
      if (target === 'AmazonSQS.ChangeMessageVisibility') {
        visibility.push({ receiptHandle: body.ReceiptHandle, seconds: body.VisibilityTimeout });
        return reply(200, {});
      }
      return reply(400, { __type: 'com.amazonaws.sqs#InvalidAction', message: target });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  const url = `http://127.0.0.1:${address.port}`;
  return {
    url,
    queueUrl: `${url}/111122223333/mailsift-runs.fifo`,
    sent,
    visibility,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
