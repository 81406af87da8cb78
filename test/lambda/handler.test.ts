/**
 * The Lambda bundle, exactly as it would be uploaded, imported in a fresh Node process and invoked with a
 * scheduler event against the test Dovecot, with Parameter Store answered on a loopback endpoint.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RulesetSummary } from '../../functions/engine/run.ts';
import { historyEntries } from '../../functions/history.ts';
import { loadRulesets } from '../../functions/rules/load.ts';
import { DynamoDbStateStore } from '../../functions/state/dynamodb-store.ts';
import { accountScope } from '../../functions/state/store.ts';
import { bundleHandler } from '../../infra/bundle.ts';
import { CORPUS } from '../helpers/corpus.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.ts';
import { type FakeSsm, startFakeSsm } from '../helpers/fake-ssm.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';
import { idsIn } from '../helpers/rulesets.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';

const PASSWORD = 'L4mbda"pa\\ss-wörd';
const RULES = `account: test
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
let work: string;
let bundleFile: string;
let lambdaUser: string;
let cliUser: string;
let tokens: TokenServer;

before(async () => {
  tokens = await startTokenServer();
  dovecot = await startDovecot({ oauth2: { introspectionUrl: tokens.introspectUrl } });
  dynamo = await startDynalite();
  stateTable = await dynamo.createStateTable();
  receiver = await startReceiver();
  lambdaUser = dovecot.addUser(PASSWORD);
  cliUser = dovecot.addUser(PASSWORD);
  for (const user of [lambdaUser, cliUser]) dovecot.seed(user, 'INBOX', CORPUS);
  const account = (user: string) =>
    JSON.stringify({
      host: '127.0.0.1',
      port: dovecot.imapsPort,
      tls: 'implicit',
      user,
      password: PASSWORD,
      ca: dovecot.certificate,
    });
  ssm = await startFakeSsm({
    '/mailsift/accounts/test': account(lambdaUser),
    '/mailsift/webhooks/ops': receiver.url,
  });
  // Inside the project, so the bundle finds @aws-sdk/* in node_modules as Lambda finds it in the runtime.
  mkdirSync('node_modules/.cache', { recursive: true });
  work = mkdtempSync(resolve('node_modules/.cache/mailsift-lambda-'));
  mkdirSync(join(work, 'rules'));
  writeFileSync(join(work, 'rules', 'inbox.yaml'), RULES);
  bundleFile = bundleHandler(loadRulesets([join(work, 'rules')]), join(work, 'bundle')).file;
});
after(async () => {
  await ssm?.close();
  await receiver?.close();
  await dynamo?.stop();
  await dovecot?.stop();
  await tokens?.close();
});

interface Invocation {
  readonly results: ({ ok: true; summary: RulesetSummary } | { ok: false; name: string; message: string })[];
  readonly output: string;
}

/** Imports the bundle in a fresh process and invokes its handler once per event. */
async function invokeBundle(
  events: unknown[],
  remainingMs = 300_000,
  ssmUrl = ssm.url,
  stateTableName = stateTable,
): Promise<Invocation> {
  const script = `
    const { handler } = await import(${JSON.stringify(bundleFile)});
    const context = { getRemainingTimeInMillis: () => ${remainingMs} };
    for (const event of ${JSON.stringify(events)}) {
      try {
        process.stdout.write('RESULT ' + JSON.stringify({ ok: true, summary: await handler(event, context) }) + '\\n');
      } catch (error) {
        process.stdout.write('RESULT ' + JSON.stringify({ ok: false, name: error.name, message: error.message }) + '\\n');
      }
    }`;
  const child = spawn('node', ['--no-warnings', '--input-type=module', '-e', script], {
    env: {
      ...process.env,
      AWS_ENDPOINT_URL_SSM: ssmUrl,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      MAILSIFT_STATE_TABLE: stateTableName,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      MAILSIFT_ACCOUNT: 'test',
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
  const results = output
    .split('\n')
    .filter((line) => line.startsWith('RESULT '))
    .map((line) => JSON.parse(line.slice('RESULT '.length)));
  return { results, output };
}

/** What must be equal between a Lambda run and a CLI run of the same ruleset. */
const plan = (summary: RulesetSummary) =>
  summary.rules.map((r) => [r.name, r.mailbox, r.matched, r.acted, r.actions, r.error]);

describe('Lambda bundle', () => {
  it('carries no zod: the rulesets were validated at build time, and action schemas are built by the loader only', () => {
    const dir = dirname(bundleFile);
    for (const file of readdirSync(dir).filter((name) => name.endsWith('.mjs'))) {
      assert.doesNotMatch(readFileSync(join(dir, file), 'utf8'), /ZodError|\$ZodType/, file);
    }
  });

  it('runs a scheduled ruleset like the CLI does, reading each parameter once across warm invocations', async () => {
    const invocation = await invokeBundle([{ ruleset: 'inbox' }, { ruleset: 'inbox' }]);
    const [first, second] = invocation.results;
    assert.ok(first?.ok, invocation.output);
    assert.ok(second?.ok, invocation.output);

    // The same ruleset through the CLI on an identical mailbox.
    const accounts = join(work, 'accounts.yaml');
    const parameters = join(work, 'parameters.yaml');
    writeFileSync(join(work, 'ca.pem'), dovecot.certificate);
    writeFileSync(
      accounts,
      `test: { host: 127.0.0.1, port: ${dovecot.imapsPort}, user: ${cliUser}, password: { env: PW }, ca: ca.pem }\n`,
    );
    writeFileSync(parameters, `/mailsift/webhooks/ops: ${receiver.url}\n`);
    const cli = spawn(
      'node',
      [
        'bin/mailsift.js',
        'run',
        join(work, 'rules'),
        '--json',
        '--accounts',
        accounts,
        '--parameters',
        parameters,
      ],
      {
        env: { ...process.env, PW: PASSWORD, MAILSIFT_STATE: join(work, 'cli-state') },
      },
    );
    let cliOut = '';
    cli.stdout.on('data', (chunk) => {
      cliOut += chunk;
    });
    const [code] = await once(cli, 'close');
    assert.equal(code, 0, cliOut);
    assert.deepEqual(plan(first.summary), plan(JSON.parse(cliOut)));
    assert.equal(first.summary.dryRun, false);

    // The second invocation moved, flagged and posted nothing again (the flagged alert carries its flag
    // already, so the flag rule's SEARCH leaves it out), it looked only at what changed since the first, and
    // both read each parameter once (cached).
    assert.deepEqual(
      second.summary.rules.map((r) => [r.matched, r.scan]),
      [
        [0, 'incremental'],
        [0, 'incremental'],
        [0, 'incremental'],
      ],
    );
    assert.equal(receiver.requests.length, 4); // two alerts, from the Lambda run and the CLI run
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
    // The checkpoint, the deliveries and the first run's history entry stay (the second changed nothing).
    assert.deepEqual(
      records.map((record) => record.key.split('/')[1]),
      ['checkpoints', 'deliveries', 'journal'],
    );
    // What `mailsift history --state dynamodb:TABLE` reads: the Lambda's run, by its id.
    const [entry] = await historyEntries(table, first.summary.runId, {});
    assert.equal(entry?.ruleset, 'inbox');
    assert.deepEqual(
      entry?.rules.map((rule) => rule.name),
      ['file-billing', 'flag-alerts', 'forward-alerts'],
    );

    // Structured logs and EMF metrics, and never the password.
    assert.match(invocation.output, /"message":"ruleset run"/);
    assert.match(
      invocation.output,
      /"_aws":\{"Timestamp":\d+,"CloudWatchMetrics":\[\{"Namespace":"mailsift"/,
    );
    assert.ok(!invocation.output.includes('wörd'));
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
    try {
      const before = tokens.requests.get('refresh_token') ?? 0;
      const invocation = await invokeBundle(
        [{ ruleset: 'inbox' }, { ruleset: 'inbox' }],
        300_000,
        oauthSsm.url,
      );
      for (const result of invocation.results) assert.ok(result.ok, invocation.output);
      assert.equal(
        (tokens.requests.get('refresh_token') ?? 0) - before,
        1,
        'the warm invocation reused the token',
      );
      assert.deepEqual(oauthSsm.puts, [{ name: refreshParameter, type: 'SecureString', overwrite: true }]);
      const rotated = oauthSsm.parameters[refreshParameter] ?? '';
      assert.notEqual(rotated, configured);
      const table = new DynamoDbStateStore(dynamo.client, stateTable);
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

  it('fails the invocation with a typed error for an unknown ruleset or a failing rule', async () => {
    const invocation = await invokeBundle([{ ruleset: 'nope' }, {}]);
    assert.deepEqual(
      invocation.results.map((r) => (r.ok ? 'ok' : `${r.name}: ${r.message}`)),
      [
        'RulesetRunError: unknown ruleset "nope"; this function runs: inbox',
        'RulesetRunError: unknown ruleset undefined; this function runs: inbox',
      ],
    );
  });

  it('never logs nor throws the password when the login fails', async () => {
    const wrong = 'Wr0ngL4mbda"pa\\ss-wörd-λ';
    const badSsm = await startFakeSsm({
      '/mailsift/accounts/test': JSON.stringify({
        host: '127.0.0.1',
        port: dovecot.imapsPort,
        user: lambdaUser,
        password: wrong,
        ca: dovecot.certificate,
      }),
      '/mailsift/webhooks/ops': receiver.url,
    });
    try {
      const invocation = await invokeBundle([{ ruleset: 'inbox' }], 300_000, badSsm.url);
      const [result] = invocation.results;
      assert.equal(result?.ok, false, invocation.output);
      assert.match(invocation.output, /ImapAuthError/);
      assert.match(invocation.output, /login to 127\.0\.0\.1:\d+ as \\?"user[\w-]+\\?" was rejected/);
      // Neither the raw password nor any distinctive piece of it, in the logs or the thrown error.
      for (const piece of [wrong, 'Wr0ngL4mbda', 'wörd-λ', JSON.stringify(wrong)]) {
        assert.ok(!invocation.output.includes(piece), `found ${piece}`);
      }
    } finally {
      await badSsm.close();
    }
  });

  it('imports without the state table setting; an invocation then fails saying what is missing', async () => {
    const invocation = await invokeBundle([{ ruleset: 'inbox' }], 300_000, ssm.url, '');
    assert.deepEqual(
      invocation.results.map((r) => (r.ok ? 'ok' : `${r.name}: ${r.message}`)),
      [
        'MailsiftError: MAILSIFT_STATE_TABLE is not set: deploy with the mailsift stack, which creates the state table',
      ],
    );
  });

  it('stops cleanly as incomplete when the time budget is nearly spent', async () => {
    const invocation = await invokeBundle([{ ruleset: 'inbox' }], 5_000);
    const [result] = invocation.results;
    assert.ok(result?.ok, invocation.output);
    assert.equal(result.summary.incomplete, true);
    assert.deepEqual(result.summary.rules, []);
  });
});
