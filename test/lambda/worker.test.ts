/**
 * The worker bundle, exactly as it would be uploaded, imported in a fresh Node process and given SQS events (as
 * the event source mapping hands them over) against the test Dovecot and dynalite, with Parameter Store and SQS
 * answered on loopback endpoints.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RulesetSummary } from '../../functions/engine/run.ts';
import { encodeRunMessage, type RunMessage } from '../../functions/fleet/run-message.ts';
import { historyEntries } from '../../functions/history.ts';
import { loadRuleFiles } from '../../functions/rules/load.ts';
import { DynamoDbStateStore } from '../../functions/state/dynamodb-store.ts';
import { acquireStateLease } from '../../functions/state/lease.ts';
import { accountScope } from '../../functions/state/store.ts';
import { bundleFleet, type FleetBundle } from '../../infra/bundle.ts';
import { CORPUS } from '../helpers/corpus.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.ts';
import { type FakeSqs, startFakeSqs } from '../helpers/fake-sqs.ts';
import { type FakeSsm, startFakeSsm } from '../helpers/fake-ssm.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';
import { idsIn } from '../helpers/rulesets.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';

const PASSWORD = 'L4mbda"pa\\ss-wörd';
const RULES = `accounts: [test, other]
schedule: rate(5 minutes)
rules:
  - { name: file-billing, match: { from: billing@ }, actions: [{ addFlags: [$Billing] }, { moveTo: Finance }] }
  - { name: flag-alerts, match: { subjectMatches: '^\\[ALERT\\]' }, actions: [{ addFlags: ['\\Flagged'] }] }
  - name: forward-alerts
    match: { from: monitoring@, seen: false }
    actions: [{ webhook: { url: { parameter: /mailsift/webhooks/ops } } }, { addFlags: ['\\Seen'] }]
`;

let dovecot: TestDovecot;
let dynamo: TestDynamo;
let stateTable: string;
let receiver: Receiver;
let ssm: FakeSsm;
let sqs: FakeSqs;
let work: string;
let bundle: FleetBundle;
let lambdaUser: string;
let cliUser: string;
let tokens: TokenServer;

const accountJson = (user: string, password = PASSWORD) =>
  JSON.stringify({
    host: '127.0.0.1',
    port: dovecot.imapsPort,
    tls: 'implicit',
    user,
    password,
    ca: dovecot.certificate,
  });

before(async () => {
  tokens = await startTokenServer();
  dovecot = await startDovecot({ oauth2: { introspectionUrl: tokens.introspectUrl } });
  dynamo = await startDynalite();
  stateTable = await dynamo.createStateTable();
  receiver = await startReceiver();
  sqs = await startFakeSqs();
  lambdaUser = dovecot.addUser(PASSWORD);
  cliUser = dovecot.addUser(PASSWORD);
  for (const user of [lambdaUser, cliUser]) dovecot.seed(user, 'INBOX', CORPUS);
  ssm = await startFakeSsm({
    '/mailsift/accounts/test': accountJson(lambdaUser),
    '/mailsift/webhooks/ops': receiver.url,
  });
  // Inside the project, so the bundle finds @aws-sdk/* in node_modules as Lambda finds it in the runtime.
  mkdirSync('node_modules/.cache', { recursive: true });
  work = mkdtempSync(resolve('node_modules/.cache/mailsift-lambda-'));
  mkdirSync(join(work, 'rules'));
  writeFileSync(join(work, 'rules', 'inbox.yaml'), RULES);
  bundle = bundleFleet(loadRuleFiles([join(work, 'rules')]), join(work, 'bundle'));
});
after(async () => {
  await sqs?.close();
  await ssm?.close();
  await receiver?.close();
  await dynamo?.stop();
  await dovecot?.stop();
  await tokens?.close();
});

/**
 * A new Dovecot user with the corpus, and Parameter Store answering for account `test` (and `other`, with the
 * given password, on the same mailbox) and the webhook.
 */
async function freshAccount(options: { other?: string } = {}) {
  const user = dovecot.addUser(PASSWORD);
  dovecot.seed(user, 'INBOX', CORPUS);
  const parameters = await startFakeSsm({
    '/mailsift/accounts/test': accountJson(user),
    ...(options.other ? { '/mailsift/accounts/other': accountJson(user, options.other) } : {}),
    '/mailsift/webhooks/ops': receiver.url,
  });
  return { user, parameters };
}

let received = 0;
/** An SQS record as the event source mapping delivers it from the FIFO queue. */
function record(message: RunMessage, receiveCount = 1, body = encodeRunMessage(message)) {
  received++;
  return {
    messageId: `message-${received}`,
    receiptHandle: `receipt-${received}`,
    body,
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      MessageGroupId: message.account,
      MessageDeduplicationId: `dedup-${received}`,
      SentTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-1:111122223333:mailsift-runs.fifo',
    awsRegion: 'eu-west-1',
  };
}
const sqsEvent = (...records: ReturnType<typeof record>[]) => ({ Records: records });
const tick = (account: string, scheduledTime = new Date().toISOString()): RunMessage => ({
  ruleset: 'inbox',
  account,
  scheduledTime,
});

interface Invocation {
  readonly results: (
    | { ok: true; response: { batchItemFailures: { itemIdentifier: string }[] } }
    | { ok: false; name: string; message: string }
  )[];
  /** The summaries the runs logged, in order. */
  readonly summaries: RulesetSummary[];
  readonly output: string;
}

/**
 * Imports the bundle in a fresh process and invokes its worker once per event. `remaining` is what
 * getRemainingTimeInMillis answers, call by call (the last answer repeats).
 */
async function invokeWorker(
  events: unknown[],
  options: { remaining?: number[]; ssmUrl?: string; stateTable?: string } = {},
): Promise<Invocation> {
  const script = `
    const { handler } = await import(${JSON.stringify(bundle.worker.file)});
    const remaining = ${JSON.stringify(options.remaining ?? [300_000])};
    let calls = 0;
    const context = { getRemainingTimeInMillis: () => remaining[Math.min(calls++, remaining.length - 1)] };
    for (const event of ${JSON.stringify(events)}) {
      try {
        process.stdout.write('RESULT ' + JSON.stringify({ ok: true, response: await handler(event, context) }) + '\\n');
      } catch (error) {
        process.stdout.write('RESULT ' + JSON.stringify({ ok: false, name: error.name, message: error.message }) + '\\n');
      }
    }`;
  const child = spawn('node', ['--no-warnings', '--input-type=module', '-e', script], {
    env: {
      ...process.env,
      AWS_ENDPOINT_URL_SSM: options.ssmUrl ?? ssm.url,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_SQS: sqs.url,
      MAILSIFT_QUEUE_URL: sqs.queueUrl,
      MAILSIFT_STATE_TABLE: options.stateTable ?? stateTable,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      MAILSIFT_PARAMETER_PREFIX: '/mailsift',
      POWERTOOLS_METRICS_NAMESPACE: 'mailsift',
    },
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  await once(child, 'close');
  const lines = output.split('\n');
  const results = lines
    .filter((line) => line.startsWith('RESULT '))
    .map((line) => JSON.parse(line.slice('RESULT '.length)));
  const summaries = lines
    .filter((line) => line.includes('"message":"ruleset run"'))
    .map((line) => JSON.parse(line).summary as RulesetSummary);
  return { results, summaries, output };
}

const failuresOf = (invocation: Invocation) =>
  invocation.results.map((result) =>
    result.ok ? result.response.batchItemFailures.map((failure) => failure.itemIdentifier) : result.name,
  );

/** What must be equal between a Lambda run and a CLI run of the same ruleset. */
const plan = (summary: RulesetSummary) =>
  summary.rules.map((r) => [r.name, r.mailbox, r.matched, r.acted, r.actions, r.error]);

describe('worker bundle', () => {
  it('carries no zod: the rulesets were validated at build time, and action schemas are built by the loader only', () => {
    for (const file of readdirSync(bundle.dir).filter((name) => name.endsWith('.mjs'))) {
      assert.doesNotMatch(readFileSync(join(bundle.dir, file), 'utf8'), /ZodError|\$ZodType/, file);
    }
  });

  it('runs a queued ruleset like the CLI does, reading each parameter once across warm invocations', async () => {
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const invocation = await invokeWorker([
      sqsEvent(record(tick('test'))),
      sqsEvent(record(tick('test', later))),
    ]);
    assert.deepEqual(failuresOf(invocation), [[], []], invocation.output);
    const [first, second] = invocation.summaries;
    assert.ok(first && second, invocation.output);

    // The same ruleset through the CLI on an identical mailbox.
    const accounts = join(work, 'accounts.yaml');
    const parameters = join(work, 'parameters.yaml');
    writeFileSync(join(work, 'ca.pem'), dovecot.certificate);
    writeFileSync(
      accounts,
      `test: { host: 127.0.0.1, port: ${dovecot.imapsPort}, user: ${cliUser}, password: { env: PW }, ca: ca.pem }\n`,
    );
    writeFileSync(parameters, `/mailsift/webhooks/ops: ${receiver.url}\n`);
    writeFileSync(join(work, 'cli-rules.yaml'), RULES.replace('accounts: [test, other]', 'account: test'));
    const cli = spawn(
      'node',
      [
        'bin/mailsift.js',
        'run',
        join(work, 'cli-rules.yaml'),
        '--json',
        '--accounts',
        accounts,
        '--parameters',
        parameters,
      ],
      { env: { ...process.env, PW: PASSWORD, MAILSIFT_STATE: join(work, 'cli-state') } },
    );
    let cliOut = '';
    cli.stdout.on('data', (chunk) => {
      cliOut += chunk;
    });
    const [code] = await once(cli, 'close');
    assert.equal(code, 0, cliOut);
    assert.deepEqual(plan(first), plan(JSON.parse(cliOut)));
    assert.equal(first.dryRun, false);
    assert.equal(first.account, 'test');

    // The second run moved, flagged and posted nothing again, it looked only at what changed since the first,
    // and both read each parameter once (cached while warm).
    assert.deepEqual(
      second.rules.map((r) => [r.matched, r.scan]),
      [
        [0, 'incremental'],
        [0, 'incremental'],
        [0, 'incremental'],
      ],
    );
    assert.equal(receiver.requests.length, 4); // two alerts, from the worker's run and the CLI run
    assert.deepEqual(ssm.requests, [
      { name: '/mailsift/accounts/test', withDecryption: true },
      { name: '/mailsift/webhooks/ops', withDecryption: true },
    ]);
    const state = await dovecot.mailboxState(lambdaUser);
    assert.deepEqual(idsIn(state, 'Finance', '$Billing'), ['inv1', 'inv2']);
    assert.deepEqual(idsIn(state, 'INBOX', '$mailsift-fwd-forward-alerts'), ['alert1', 'alert2']);
    // The runs remembered in the DynamoDB table; the lease was given up.
    const table = new DynamoDbStateStore(dynamo.client, stateTable);
    const records = await table.list(`${accountScope({ user: lambdaUser, host: '127.0.0.1' })}/`);
    assert.deepEqual(
      records.map((r) => r.key.split('/')[1]),
      ['checkpoints', 'deliveries', 'journal'],
    );
    const [entry] = await historyEntries(table, first.runId, {});
    assert.equal(entry?.ruleset, 'inbox');

    // Structured logs and EMF metrics (per ruleset, and the fleet's counts), and never the password.
    assert.match(
      invocation.output,
      /"_aws":\{"Timestamp":\d+,"CloudWatchMetrics":\[\{"Namespace":"mailsift","Dimensions":\[\["service","ruleset"\]\]/,
    );
    assert.match(
      invocation.output,
      /"CloudWatchMetrics":\[\{"Namespace":"mailsift","Dimensions":\[\["service"\]\],"Metrics":\[\{"Name":"runs","Unit":"Count"\}\]/,
    );
    assert.match(invocation.output, /"Name":"runDuration","Unit":"Milliseconds"/);
    assert.ok(!invocation.output.includes('wörd'));
    assert.deepEqual(sqs.visibility, [], 'nothing given back');
  });

  it('drops a tick a finished run already covered, and runs a later one', async () => {
    const { parameters } = await freshAccount();
    try {
      // Three ticks queued while the account was slow: 10:00 runs (it starts now, after 10:05 and 10:10 were
      // queued), so the run covers both; a tick scheduled after it started runs again.
      const at = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();
      const invocation = await invokeWorker(
        [
          sqsEvent(record(tick('test', at(-600_000)))),
          sqsEvent(record(tick('test', at(-300_000)))),
          sqsEvent(record(tick('test', at(-60_000)))),
          sqsEvent(record(tick('test', at(3_600_000)))),
        ],
        { ssmUrl: parameters.url, stateTable: await dynamo.createStateTable() },
      );
      assert.deepEqual(failuresOf(invocation), [[], [], [], []], invocation.output);
      assert.equal(invocation.summaries.length, 2, 'the first and the last tick ran');
      assert.equal(
        (invocation.output.match(/tick superseded: a later run already covered it/g) ?? []).length,
        2,
      );
      assert.match(invocation.output, /"Name":"superseded"/);
      // A superseded tick reads no parameter: still one read of the account for the two runs (cached).
      assert.equal(parameters.requests.filter((r) => r.name === '/mailsift/accounts/test').length, 1);
    } finally {
      await parameters.close();
    }
  });

  it("reports only the failing account of a batch, holds that account's later message back, and backs off", async () => {
    const wrong = 'Wr0ngL4mbda"pa\\ss-wörd-λ';
    const { user, parameters } = await freshAccount({ other: wrong });
    try {
      const failing = record(tick('other'), 2);
      const heldBack = record(tick('other', new Date(Date.now() + 1000).toISOString()));
      const fine = record(tick('test'));
      const unknown = record({
        ruleset: 'inbox',
        account: 'nobody',
        scheduledTime: new Date().toISOString(),
      });
      const garbled = record(tick('test'), 1, '{"format":1,"ruleset":"inbox"}');
      const before = sqs.visibility.length;
      const table = await dynamo.createStateTable();
      const invocation = await invokeWorker([sqsEvent(failing, fine, heldBack, unknown, garbled)], {
        ssmUrl: parameters.url,
        stateTable: table,
      });
      assert.deepEqual(failuresOf(invocation), [[failing.messageId, heldBack.messageId, garbled.messageId]]);
      // The failed run's second receive comes back after 60 s; the held-back one as soon as it may.
      assert.deepEqual(sqs.visibility.slice(before), [
        { receiptHandle: failing.receiptHandle, seconds: 60 },
        { receiptHandle: heldBack.receiptHandle, seconds: 0 },
        { receiptHandle: garbled.receiptHandle, seconds: 30 },
      ]);
      assert.deepEqual(
        invocation.summaries.map((summary) => [summary.account, summary.errorType]),
        [
          ['other', 'ImapAuthError'],
          ['test', undefined],
        ],
      );
      assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'Finance', '$Billing'), ['inv1', 'inv2']);
      assert.match(invocation.output, /run dropped: not in the deployed rule files/);
      assert.match(invocation.output, /the queued message lacks ruleset, account or scheduledTime/);
      assert.match(invocation.output, /login to 127\.0\.0\.1:\d+ as \\?"user[\w-]+\\?" was rejected/);
      for (const piece of [wrong, 'Wr0ngL4mbda', 'wörd-λ', JSON.stringify(wrong)])
        assert.ok(!invocation.output.includes(piece), `found ${piece}`);

      // While the failed run is retried, a tick of that account queued before its attempt is dropped, so a
      // failing account builds no backlog; the retry itself (its second receive) and a later tick run.
      const queuedBefore = record(tick('other', new Date(Date.now() - 60_000).toISOString()));
      const retry = record(tick('other'), 2, failing.body);
      const later = record(tick('other', new Date(Date.now() + 3_600_000).toISOString()));
      const next = await invokeWorker([sqsEvent(queuedBefore), sqsEvent(retry), sqsEvent(later)], {
        ssmUrl: parameters.url,
        stateTable: table,
      });
      assert.deepEqual(failuresOf(next), [[], [retry.messageId], [later.messageId]]);
      assert.equal(next.summaries.length, 2, 'the retry and the later tick ran (and failed again)');
      assert.equal((next.output.match(/tick superseded/g) ?? []).length, 1);
    } finally {
      await parameters.close();
    }
  });

  it('skips a run whose account another run holds, as the CLI says SKIPPED: done with, not a failure', async () => {
    const { user, parameters } = await freshAccount();
    const table = await dynamo.createStateTable();
    // A CLI run of the same mailbox against the same table, still going (this process).
    const lease = await acquireStateLease(
      new DynamoDbStateStore(dynamo.client, table),
      accountScope({ user, host: '127.0.0.1' }),
      { account: 'test', rulesets: ['inbox'], durationMs: 60_000 },
    );
    try {
      const busy = await invokeWorker([sqsEvent(record(tick('test')))], {
        ssmUrl: parameters.url,
        stateTable: table,
      });
      assert.deepEqual(failuresOf(busy), [[]], busy.output);
      assert.match(busy.output, /account busy: run skipped, the next tick runs it/);
      assert.match(busy.output, /"Name":"busy","Unit":"Count"/);
      assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'Finance', '$Billing'), [], 'nothing moved');
    } finally {
      await lease.release();
      await parameters.close();
    }
  });

  it('signs an OAuth2 account in: the rotated refresh token goes to the state table, then back to its parameter', async () => {
    const user = dovecot.addUser();
    dovecot.seed(user, 'INBOX', CORPUS);
    tokens.registerClient('lambda-app', {});
    const configured = tokens.issueRefreshToken('lambda-app', user);
    const refreshParameter = '/mailsift/oauth/test/refresh-token';
    const oauthSsm = await startFakeSsm({
      '/mailsift/accounts/test': JSON.stringify({
        host: '127.0.0.1',
        port: dovecot.imapsPort,
        user,
        ca: dovecot.certificate,
        oauth2: { clientId: 'lambda-app', tokenUrl: tokens.tokenUrl, scope: 'imap' },
      }),
      [refreshParameter]: configured,
      '/mailsift/webhooks/ops': receiver.url,
    });
    const oauthTable = await dynamo.createStateTable();
    try {
      const before = tokens.requests.get('refresh_token') ?? 0;
      const invocation = await invokeWorker(
        [
          sqsEvent(record(tick('test'))),
          sqsEvent(record(tick('test', new Date(Date.now() + 3_600_000).toISOString()))),
        ],
        { ssmUrl: oauthSsm.url, stateTable: oauthTable },
      );
      assert.deepEqual(failuresOf(invocation), [[], []], invocation.output);
      assert.equal(
        (tokens.requests.get('refresh_token') ?? 0) - before,
        1,
        'the warm invocation reused the token',
      );
      assert.deepEqual(oauthSsm.puts, [{ name: refreshParameter, type: 'SecureString', overwrite: true }]);
      const rotated = oauthSsm.parameters[refreshParameter] ?? '';
      assert.notEqual(rotated, configured);
      const table = new DynamoDbStateStore(dynamo.client, oauthTable);
      const stored = await table.get<{ token: string }>(
        `${accountScope({ user, host: '127.0.0.1' })}/oauth/refresh-token`,
      );
      assert.equal(stored?.value.token, rotated, 'the same token in the state table');
      assert.deepEqual(idsIn(await dovecot.mailboxState(user), 'Finance', '$Billing'), ['inv1', 'inv2']);
      assert.ok(
        !invocation.output.includes(rotated) && !invocation.output.includes(configured),
        'no token logged',
      );
    } finally {
      await oauthSsm.close();
    }
  });

  it('imports without the state table setting; a message then fails saying what is missing', async () => {
    const invocation = await invokeWorker([sqsEvent(record(tick('test')))], { stateTable: '' });
    assert.equal(failuresOf(invocation)[0]?.length, 1, invocation.output);
    assert.match(
      invocation.output,
      /MAILSIFT_STATE_TABLE is not set: deploy with the mailsift stack, which creates the state table/,
    );
  });

  it('keeps to the time budget: a message is not started late, and a run cut short covers no tick', async () => {
    const { parameters } = await freshAccount();
    const table = await dynamo.createStateTable();
    try {
      const late = record(tick('test'));
      const notStarted = await invokeWorker([sqsEvent(late)], {
        remaining: [20_000],
        ssmUrl: parameters.url,
        stateTable: table,
      });
      assert.deepEqual(failuresOf(notStarted), [[late.messageId]]);
      assert.deepEqual(sqs.visibility.at(-1), { receiptHandle: late.receiptHandle, seconds: 0 });
      assert.equal(notStarted.summaries.length, 0);
      // Enough time to start, then the budget runs out before the first rule: the run stops as incomplete, its
      // message is done with, and the same tick delivered again runs (nothing was covered).
      const scheduledTime = new Date().toISOString();
      const cut = await invokeWorker([sqsEvent(record(tick('test', scheduledTime)))], {
        remaining: [60_000, 60_000, 5_000],
        ssmUrl: parameters.url,
        stateTable: table,
      });
      assert.deepEqual(failuresOf(cut), [[]], cut.output);
      assert.equal(cut.summaries[0]?.incomplete, true);
      const again = await invokeWorker([sqsEvent(record(tick('test', scheduledTime)))], {
        ssmUrl: parameters.url,
        stateTable: table,
      });
      assert.equal(again.summaries.length, 1, again.output);
      assert.equal(again.summaries[0]?.incomplete, undefined);
    } finally {
      await parameters.close();
    }
  });
});
