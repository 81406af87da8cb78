/**
 * `mailsift state` on a state directory real runs wrote (the bundled CLI against the test Dovecot): what it
 * shows, a damaged checkpoint and history entry found, named, set aside and started afresh, an account forgotten,
 * and a state directory others can write refused.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { keySegment } from '../functions/state/store.ts';
import { runCli } from './helpers/cli.ts';
import { CORPUS } from './helpers/corpus.ts';
import { startDovecot, type TestDovecot } from './helpers/dovecot.ts';
import { startDynalite, type TestDynamo } from './helpers/dynalite.ts';

let dovecot: TestDovecot;
let dynamo: TestDynamo;
let work: string;

before(async () => {
  execFileSync('node', ['scripts/build.mjs']);
  [dovecot, dynamo] = await Promise.all([startDovecot(), startDynalite()]);
  work = mkdtempSync(join(tmpdir(), 'mailsift-cli-state-'));
});
after(async () => {
  await Promise.all([dovecot?.stop(), dynamo?.stop()]);
});

function mailsift(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync('node', ['bin/mailsift.js', ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      MAILSIFT_ACCOUNTS: '',
      MAILSIFT_STATE_INSECURE: '',
      TEST_IMAP_PASSWORD: 'secret',
      ...env,
    },
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** An item written as it is, below the store's interface: what a hand edit or a damaged copy leaves. */
async function putRaw(table: string, pk: string, sk: string, version: string, value: string) {
  const Item = { pk: { S: pk }, sk: { S: sk }, version: { N: version }, value: { S: value } };
  await dynamo.client.send(new PutItemCommand({ TableName: table, Item }));
}

const FILING = `  - { name: file-billing, match: { from: billing@ }, actions: [{ moveTo: Finance }] }
  - { name: tag-news, match: { from: news@ }, actions: [{ addFlags: [$News] }] }
`;

/** A user with the corpus, a rules dir (ruleset `inbox`, account `test`), its accounts file and a state dir. */
function setup() {
  const user = dovecot.addUser();
  dovecot.seed(user, 'INBOX', CORPUS);
  const home = mkdtempSync(join(work, 'setup-'));
  const rules = join(home, 'rules');
  mkdirSync(rules);
  writeFileSync(join(rules, 'inbox.yaml'), `account: test\nschedule: rate(5 minutes)\nrules:\n${FILING}`);
  writeFileSync(join(home, 'ca.pem'), dovecot.certificate);
  const accounts = join(home, 'accounts.yaml');
  writeFileSync(
    accounts,
    `test:\n  host: 127.0.0.1\n  port: ${dovecot.imapsPort}\n  tls: implicit\n  user: ${user}\n  password: { env: TEST_IMAP_PASSWORD }\n  ca: ca.pem\n`,
  );
  const state = join(home, 'state');
  const scope = `${user}@127.0.0.1`;
  const run = (...extra: string[]) =>
    mailsift(['run', rules, '--json', '--accounts', accounts, '--state', state, ...extra]);
  return { user, rules, accounts, state, scope, run, home };
}

describe('mailsift state', () => {
  it('shows what a run left: checkpoints current or stale, lease free, no token, the history', () => {
    const { rules, state, scope, run, home } = setup();
    assert.equal(run().code, 0);
    const shown = mailsift(['state', 'show', '--state', state, '--rules', rules]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`^account ${scope.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(shown.stdout, /^ {2}lease: free$/m);
    assert.match(
      shown.stdout,
      new RegExp(
        `^ {4}inbox / INBOX: UIDVALIDITY \\d+, UIDNEXT ${CORPUS.length + 1}, HIGHESTMODSEQ \\d+, at \\S+, last full scan \\S+, rules current$`,
        'm',
      ),
    );
    assert.match(shown.stdout, /^ {2}token: none$/m);
    assert.match(shown.stdout, /^ {2}history: 1 entry, \d+(\.\d)? (bytes|KB)$/m);
    // By the account's name too (the history knows it), and as JSON.
    const json = JSON.parse(mailsift(['state', 'show', 'test', '--state', state, '--json']).stdout);
    assert.deepEqual(
      json.accounts.map((account: { account: string; checkpoints: unknown[] }) => [
        account.account,
        account.checkpoints.length,
      ]),
      [[scope, 1]],
    );
    // The rules changed: the checkpoint is stale, and the next run scans in full.
    const changed = join(home, 'changed');
    mkdirSync(changed);
    writeFileSync(
      join(changed, 'inbox.yaml'),
      `account: test\nschedule: rate(5 minutes)\nrules:\n${FILING.replace('Finance', 'Books')}`,
    );
    assert.match(
      mailsift(['state', 'show', '--state', state, '--rules', changed]).stdout,
      /rules changed since: a full scan next$/m,
    );
    assert.equal(mailsift(['state', 'show', 'nobody', '--state', state]).code, 2);
  });

  it('finds a damaged checkpoint and history entry, names them, sets them aside; the next run starts afresh', () => {
    const { state, scope, run } = setup();
    const first = run();
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const runId = JSON.parse(first.stdout).runId as string;
    const account = join(state, keySegment(scope));
    const checkpoint = join(account, 'checkpoints', 'inbox', 'INBOX.json');
    const entry = join(account, 'journal', `${runId}.json`);
    writeFileSync(checkpoint, '{"version":3,"value":{"digest":"x","uidVal');
    writeFileSync(entry, '');
    assert.equal(mailsift(['state', 'check', '--state', state]).code, 1);
    const check = mailsift(['state', 'check', '--state', state]);
    assert.match(check.stdout, new RegExp(`^damaged: checkpoint ${checkpoint}$`, 'm'));
    assert.match(check.stdout, new RegExp(`^damaged: history entry ${entry}$`, 'm'));
    assert.match(check.stdout, /^ {2}next run: the next run of the account stops at it, naming it/m);
    assert.match(check.stdout, /^2 damaged record\(s\): mailsift state repair sets them aside$/m);
    // Where it matters, named: the run stops at the checkpoint, the history lists the entry.
    const stopped = run();
    assert.equal(stopped.code, 1);
    assert.match(
      stopped.stdout + stopped.stderr,
      /INBOX\.json is not a mailsift record .*mailsift state repair/,
    );
    const history = mailsift(['history', '--state', state]);
    assert.match(
      history.stderr,
      new RegExp(`run ${runId} cannot be read: state file ${entry} is not a mailsift record`),
    );

    const repair = mailsift(['state', 'repair', '--state', state]);
    assert.equal(repair.code, 0, repair.stderr);
    assert.match(repair.stdout, /^ {2}next run: the next run of ruleset inbox scans INBOX in full$/m);
    assert.match(
      repair.stdout,
      new RegExp(`^ {2}next run: run ${runId} leaves the history: it can no longer be shown or undone$`, 'm'),
    );
    assert.match(repair.stdout, /^2 record\(s\) set aside, none deleted$/m);
    assert.ok(!existsSync(checkpoint) && !existsSync(entry));
    const aside = readdirSync(join(account, 'checkpoints', 'inbox'));
    assert.deepEqual(
      aside.map((name) => name.replace(/\d{4}-\d\d-\d\dT[\d-]+Z$/, 'TIME')),
      ['INBOX.json.damaged-TIME'],
    );
    assert.equal(mailsift(['state', 'check', '--state', state]).code, 0);
    const again = run();
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      JSON.parse(again.stdout).rules.map((rule: { scan: string; scanReason: string }) => [
        rule.scan,
        rule.scanReason,
      ]),
      [
        ['full', 'first run'],
        ['full', 'first run'],
      ],
    );
  });

  it('forgets an account (asking for --yes), keeping the records aside; a dry run lists them', () => {
    const { state, scope, run } = setup();
    assert.equal(run().code, 0);
    assert.equal(mailsift(['state', 'forget', 'test', '--state', state]).code, 2);
    const dry = mailsift(['state', 'forget', 'test', '--state', state, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^would set aside: checkpoint /m);
    assert.match(
      dry.stdout,
      new RegExp(`^\\d+ record\\(s\\) of ${scope.replace(/\./g, '\\.')} would be set aside`, 'm'),
    );
    assert.match(mailsift(['state', 'show', '--state', state]).stdout, /checkpoints:$/m);
    const forgotten = mailsift(['state', 'forget', 'test', '--state', state, '--yes']);
    assert.equal(forgotten.code, 0, forgotten.stderr);
    assert.match(mailsift(['state', 'show', '--state', state]).stdout, /^nothing remembered in directory /);
    const kept = readdirSync(join(state, keySegment(scope), 'checkpoints', 'inbox'));
    assert.deepEqual(
      kept.map((name) => name.replace(/\d{4}-\d\d-\d\dT[\d-]+Z$/, 'TIME')),
      ['INBOX.json.forgotten-TIME'],
    );
    const next = JSON.parse(run().stdout);
    assert.deepEqual(
      next.rules.map((rule: { scanReason: string }) => rule.scanReason),
      ['first run', 'first run'],
    );
  });

  it('refuses a state directory others can write, or a record others can read, and says how to fix it', () => {
    const { rules, accounts, state, scope, run } = setup();
    assert.equal(run().code, 0);
    chmodSync(state, 0o777);
    const refused = run();
    assert.equal(refused.code, 1);
    assert.match(
      refused.stdout + refused.stderr,
      /state directory \S+ is writable by group or others \(mode 0777\).*chmod go-w/,
    );
    assert.match(mailsift(['state', 'check', '--state', state]).stderr, /writable by group or others/);
    const args = ['run', rules, '--json', '--accounts', accounts, '--state', state];
    const allowed = mailsift(args, { MAILSIFT_STATE_INSECURE: '1' });
    assert.equal(allowed.code, 0, allowed.stderr);
    chmodSync(state, 0o700);
    const checkpoint = join(state, keySegment(scope), 'checkpoints', 'inbox', 'INBOX.json');
    chmodSync(checkpoint, 0o644);
    const readable = run();
    assert.equal(readable.code, 1);
    assert.match(
      readable.stdout + readable.stderr,
      /INBOX\.json can be read or written by group or others \(mode 0644\).*chmod 600/,
    );
    chmodSync(checkpoint, 0o600);
    assert.equal(run().code, 0);
  });

  it('does the same on the DynamoDB table of a deployment (--state dynamodb:TABLE), showing no token', async () => {
    const { rules, accounts, scope } = setup();
    const table = await dynamo.createStateTable();
    const aws = {
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      TEST_IMAP_PASSWORD: 'secret',
    };
    const state = ['--state', `dynamodb:${table}`];
    const first = await runCli(['run', rules, '--json', '--accounts', accounts, ...state], { env: aws });
    assert.equal(first.code, 0, first.stdout + first.stderr);
    await putRaw(table, keySegment(scope), 'oauth/refresh-token', '1', '{"token":"1//0gNEVERSHOWN"}');
    const shown = await runCli(['state', 'show', 'test', ...state, '--json'], { env: aws });
    assert.equal(shown.code, 0, shown.stderr);
    const [account] = JSON.parse(shown.stdout).accounts;
    assert.deepEqual(
      [account.account, account.checkpoints.length, account.token],
      [scope, 1, 'refresh token stored'],
    );
    assert.doesNotMatch(shown.stdout, /NEVERSHOWN/);
    await putRaw(table, keySegment(scope), 'checkpoints/inbox/INBOX', '4', '{"di');
    const check = await runCli(['state', 'check', ...state], { env: aws });
    assert.equal(check.code, 1);
    assert.match(
      check.stdout,
      new RegExp(
        `^damaged: checkpoint ${table} ${keySegment(scope).replace(/%/g, '%')}/checkpoints/inbox/INBOX$`,
        'm',
      ),
    );
    const repair = await runCli(['state', 'repair', ...state], { env: aws });
    assert.equal(repair.code, 0, repair.stderr);
    assert.match(
      repair.stdout,
      /set aside: checkpoint → \S+ \S+\/damaged\/damaged-[\dT-]+Z\/checkpoints\/inbox\/INBOX$/m,
    );
    assert.doesNotMatch(check.stdout + repair.stdout, /NEVERSHOWN/);
    const again = await runCli(['run', rules, '--json', '--accounts', accounts, ...state], { env: aws });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      JSON.parse(again.stdout).rules.map((rule: { scanReason: string }) => rule.scanReason),
      ['first run', 'first run'],
    );
  });
});
