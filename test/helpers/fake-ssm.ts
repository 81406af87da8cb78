/**
 * A loopback stand-in for the SSM Parameter Store API (JSON 1.1 protocol: GetParameter, and PutParameter with
 * Overwrite into the same map; optionally throttling the first reads), so the real AWS
 * SDK client can run against it from any process: point AWS_ENDPOINT_URL_SSM at `url`.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';

export interface FakeSsm {
  readonly url: string;
  /** Names asked for, in order, with whether decryption was requested. */
  readonly requests: { name: string; withDecryption: boolean }[];
  /** PutParameter calls, in order: name, type and whether it overwrote (the value is in `parameters`). */
  readonly puts: { name: string; type: string; overwrite: boolean }[];
  readonly parameters: Record<string, string>;
  close(): Promise<void>;
}

export async function startFakeSsm(
  parameters: Record<string, string>,
  options: { readonly throttle?: number } = {},
): Promise<FakeSsm> {
  let throttle = options.throttle ?? 0;
  const requests: FakeSsm['requests'] = [];
  const puts: FakeSsm['puts'] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const target = String(request.headers['x-amz-target'] ?? '');
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
        Name?: string;
        WithDecryption?: boolean;
        Value?: string;
        Type?: string;
        Overwrite?: boolean;
      };
      const reply = (status: number, payload: unknown) =>
        response
          .writeHead(status, { 'content-type': 'application/x-amz-json-1.1' })
          .end(JSON.stringify(payload));
      if (target === 'AmazonSSM.PutParameter') {
        const name = body.Name ?? '';
        if (parameters[name] !== undefined && !body.Overwrite)
          return reply(400, { __type: 'ParameterAlreadyExists', message: name });
        parameters[name] = body.Value ?? '';
        puts.push({ name, type: body.Type ?? 'String', overwrite: body.Overwrite === true });
        return reply(200, { Version: puts.length + 1, Tier: 'Standard' });
      }
      if (target !== 'AmazonSSM.GetParameter')
        return reply(400, { __type: 'InvalidAction', message: target });
      const name = body.Name ?? '';
      requests.push({ name, withDecryption: body.WithDecryption === true });
      // The first `throttle` reads are refused as Parameter Store refuses reads past its rate.
      if (throttle > 0) {
        throttle--;
        return reply(400, { __type: 'ThrottlingException', message: 'Rate exceeded' });
      }
      const value = parameters[name];
      if (value === undefined)
        return reply(400, { __type: 'ParameterNotFound', message: `${name} not found` });
      return reply(200, {
        Parameter: {
          Name: name,
          Type: 'SecureString',
          Value: value,
          Version: 1,
          DataType: 'text',
          ARN: `arn:aws:ssm:eu-west-1:111122223333:parameter${name}`,
        },
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    puts,
    parameters,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
