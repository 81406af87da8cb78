/**
 * The dispatcher: in process with the real SQS client under aws-sdk-client-mock (batching, ids, retries), and as
 * its bundle in a fresh process against a loopback SQS.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Logger } from '@aws-lambda-powertools/logger';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { fleetManifest } from '../../functions/fleet/manifest.ts';
import { decodeRunMessage, deduplicationId } from '../../functions/fleet/run-message.ts';
import { createDispatcher } from '../../functions/lambda/dispatcher.ts';
import { bundleFleet } from '../../infra/bundle.ts';
import { type FakeSqs, startFakeSqs } from '../helpers/fake-sqs.ts';
import { fleetRuleFiles } from '../helpers/fleet.ts';

const QUEUE = 'https://sqs.eu-west-1.amazonaws.com/111122223333/mailsift-runs.fifo';
const TIME = '2026-12-01T10:15:00Z';
const sqsMock = mockClient(SQSClient);
// 23 accounts on two files of rate(15 minutes) and rate(5 minutes): 23 runs per tick of either.
const manifest = fleetManifest(fleetRuleFiles(23, 4));
const pauses: number[] = [];
const dispatch = createDispatcher({
  manifest,
  sqs: () => new SQSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }),
  queueUrl: () => QUEUE,
  logger: new Logger({ serviceName: 'mailsift', logLevel: 'SILENT' }),
  send: {
    pause: async (ms) => {
      pauses.push(ms);
    },
  },
});
type Entry = { Id: string; MessageBody: string; MessageGroupId: string; MessageDeduplicationId: string };
const batches = () =>
  sqsMock.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input.Entries as Entry[]);

beforeEach(() => {
  sqsMock.reset();
  pauses.length = 0;
});

describe('dispatcher', () => {
  it('queues one message per (ruleset, account) due, in batches of ten, grouped by account', async () => {
    sqsMock.on(SendMessageBatchCommand).callsFake((input) => ({
      Successful: input.Entries.map((entry: Entry) => ({ Id: entry.Id })),
      Failed: [],
    }));
    assert.deepEqual(await dispatch({ schedule: 'rate(15 minutes)', scheduledTime: TIME }), { queued: 46 });
    const sent = batches();
    assert.deepEqual(
      sent.map((batch) => batch.length),
      [10, 10, 10, 10, 6],
    );
    const entries = sent.flat();
    const runs = entries.map((entry) => decodeRunMessage(entry.MessageBody));
    assert.deepEqual(
      [...new Set(runs.map((run) => run.ruleset))],
      ['fleet-0', 'fleet-2'],
      'only the files on that schedule',
    );
    for (const [index, entry] of entries.entries()) {
      const run = runs[index] as (typeof runs)[number];
      assert.equal(run.scheduledTime, TIME);
      assert.equal(entry.MessageGroupId, run.account);
      assert.equal(entry.MessageDeduplicationId, deduplicationId(run));
      assert.match(entry.MessageDeduplicationId, /^[0-9a-f]{64}$/);
    }
    assert.equal(new Set(entries.map((entry) => entry.MessageDeduplicationId)).size, 46);
  });

  it('gives a Scheduler retry of a tick the same deduplication ids, and another tick other ones', async () => {
    sqsMock.on(SendMessageBatchCommand).callsFake((input) => ({ Successful: [], Failed: [], input }));
    await dispatch({ schedule: 'rate(5 minutes)', scheduledTime: TIME });
    await dispatch({ schedule: 'rate(5 minutes)', scheduledTime: TIME });
    await dispatch({ schedule: 'rate(5 minutes)', scheduledTime: '2026-12-01T10:20:00Z' });
    const ids = batches().map((batch) => batch.map((entry) => entry.MessageDeduplicationId).join());
    assert.equal(ids.length, 15);
    assert.deepEqual(ids.slice(0, 5), ids.slice(5, 10));
    assert.ok(ids.slice(10).every((id, index) => id !== ids[index]));
  });

  it('sends the entries SQS failed on its side again, after a pause, and only them', async () => {
    let call = 0;
    sqsMock.on(SendMessageBatchCommand).callsFake((input) => {
      call++;
      // The first batch: entries 3 and 7 throttled once.
      const failed = call === 1 ? ['3', '7'] : [];
      return {
        Successful: input.Entries.filter((e: Entry) => !failed.includes(e.Id)).map((e: Entry) => ({
          Id: e.Id,
        })),
        Failed: failed.map((Id) => ({
          Id,
          Code: 'ThrottlingException',
          SenderFault: false,
          Message: 'slow down',
        })),
      };
    });
    const tiny = createDispatcher({
      manifest: fleetManifest(fleetRuleFiles(10, 1)),
      sqs: () =>
        new SQSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }),
      queueUrl: () => QUEUE,
      logger: new Logger({ logLevel: 'SILENT' }),
      send: { pause: async (ms) => void pauses.push(ms) },
    });
    assert.deepEqual(await tiny({ schedule: 'rate(15 minutes)', scheduledTime: TIME }), { queued: 10 });
    const sent = batches();
    assert.deepEqual(
      sent.map((batch) => batch.map((entry) => entry.Id)),
      [
        ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
        ['3', '7'],
      ],
    );
    assert.equal(sent[1]?.[0]?.MessageDeduplicationId, sent[0]?.[3]?.MessageDeduplicationId);
    assert.deepEqual(pauses, [200]);
  });

  it('fails the tick naming what could not be queued: refused entries at once, throttled ones after four tries', async () => {
    sqsMock.on(SendMessageBatchCommand).callsFake((input) => ({
      Successful: [],
      Failed: input.Entries.map((e: Entry) =>
        e.Id === '0'
          ? { Id: e.Id, Code: 'InvalidParameterValue', SenderFault: true }
          : { Id: e.Id, Code: 'ThrottlingException', SenderFault: false },
      ),
    }));
    await assert.rejects(dispatch({ schedule: 'rate(15 minutes)', scheduledTime: TIME }), {
      name: 'DispatchError',
      message: '46 of 46 run(s) could not be queued (InvalidParameterValue, ThrottlingException)',
    });
    // Five batches, each sent four times: whole first, then without its refused entry.
    const sizes = batches()
      .map((batch) => batch.length)
      .sort((a, b) => a - b);
    assert.deepEqual(sizes, [5, 5, 5, 6, ...Array(12).fill(9), 10, 10, 10, 10]);
  });

  it('does not send again after an error no retry mends (AccessDenied), and does after a 5xx', async () => {
    const denied = Object.assign(new Error('not authorized'), { name: 'AccessDenied', $fault: 'client' });
    sqsMock.on(SendMessageBatchCommand).rejects(denied);
    await assert.rejects(dispatch({ schedule: 'rate(15 minutes)', scheduledTime: TIME }), {
      name: 'DispatchError',
      message: '46 of 46 run(s) could not be queued (AccessDenied)',
    });
    assert.equal(batches().length, 5, 'each batch sent once');
    sqsMock.reset();
    const unavailable = Object.assign(new Error('try later'), {
      name: 'ServiceUnavailable',
      $fault: 'server',
    });
    sqsMock
      .on(SendMessageBatchCommand)
      .rejectsOnce(unavailable)
      .callsFake((input) => ({ Successful: input.Entries.map((e: Entry) => ({ Id: e.Id })), Failed: [] }));
    assert.deepEqual(await dispatch({ schedule: 'rate(15 minutes)', scheduledTime: TIME }), { queued: 46 });
    assert.equal(batches().length, 6, 'the batch that met the 5xx, sent again');
  });

  it('queues nothing for a tick with nothing due, and refuses an event without its fields', async () => {
    assert.deepEqual(await dispatch({ schedule: 'rate(1 day)', scheduledTime: TIME }), { queued: 0 });
    assert.equal(batches().length, 0);
    await assert.rejects(dispatch({ schedule: 'rate(15 minutes)' }), /needs schedule and scheduledTime/);
  });
});

describe('dispatcher bundle', () => {
  let sqs: FakeSqs;
  let file: string;
  before(async () => {
    sqs = await startFakeSqs();
    mkdirSync('node_modules/.cache', { recursive: true });
    const work = mkdtempSync(resolve('node_modules/.cache/mailsift-dispatcher-'));
    file = bundleFleet(fleetRuleFiles(12, 2), join(work, 'bundle')).dispatcher.file;
  });
  after(async () => {
    await sqs?.close();
  });

  it('imports in a fresh process and queues a tick through the real SQS client', async () => {
    const script = `
      const { handler } = await import(${JSON.stringify(file)});
      const result = await handler({ schedule: 'rate(5 minutes)', scheduledTime: '${TIME}' });
      process.stdout.write('RESULT ' + JSON.stringify(result) + '\\n');`;
    // Not execFileSync: the loopback SQS answers from this process.
    const { stdout: output } = await promisify(execFile)(
      'node',
      ['--no-warnings', '--input-type=module', '-e', script],
      {
        encoding: 'utf8',
        env: {
          ...process.env,
          AWS_ENDPOINT_URL_SQS: sqs.url,
          MAILSIFT_QUEUE_URL: sqs.queueUrl,
          AWS_REGION: 'eu-west-1',
          AWS_ACCESS_KEY_ID: 'test',
          AWS_SECRET_ACCESS_KEY: 'test',
        },
      },
    );
    assert.match(output, /^RESULT \{"queued":12\}$/m);
    assert.match(output, /"message":"runs queued"/);
    assert.deepEqual(
      sqs.sent.map((entry) => decodeRunMessage(entry.MessageBody).account).sort(),
      Array.from({ length: 12 }, (_, i) => `customer-${String(i + 1).padStart(5, '0')}`),
    );
  });
});
