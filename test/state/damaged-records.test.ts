/**
 * Every kind of record damaged in turn (truncated, not JSON, a wrong version, a value of the wrong shape), on the
 * file state and on DynamoDB (dynalite), between two real runs on Dovecot: the run stops at it naming it, or
 * goes on without believing it, and loses nothing; `state check` names exactly that record; `state repair` sets
 * it aside; the next run ends where an undisturbed history ends.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { type RulesetSummary, runRuleset } from '../../functions/engine/run.ts';
import { DynamoDbStateStore } from '../../functions/state/dynamodb-store.ts';
import type { InspectableStore } from '../../functions/state/inspect.ts';
import { accountScope } from '../../functions/state/store.ts';
import { checkState, repairState } from '../../functions/state-review.ts';
import { startDovecot, type TestDovecot } from '../helpers/dovecot.ts';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.ts';
import { makeMail } from '../helpers/mail.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';
import { rulesetOf } from '../helpers/rulesets.ts';
import { testState } from '../helpers/state.ts';

let dovecot: TestDovecot;
let dynamo: TestDynamo;
let receiver: Receiver;
before(async () => {
  [dovecot, dynamo, receiver] = await Promise.all([startDovecot(), startDynalite(), startReceiver()]);
});
after(async () => {
  await Promise.all([dovecot?.stop(), dynamo?.stop(), receiver?.close()]);
});

const rules = () =>
  rulesetOf(`rules:
  - { name: file, match: { from: billing@ }, actions: [{ addFlags: [$Filed] }, { moveTo: Finance }] }
  - { name: alerts, match: { from: alerts@ }, actions: [{ webhook: { url: '${receiver.url}', attempts: 1 } }] }
`);

const FIRST = [
  ['b1', 'billing@acme.test'],
  ['a1', 'alerts@ops.test'],
  ['o1', 'anna@example.com'],
] as const;
const LATER = [
  ['b2', 'billing@acme.test'],
  ['a2', 'alerts@ops.test'],
] as const;

function deliver(user: string, mail: readonly (readonly [string, string])[]) {
  dovecot.seed(
    user,
    'INBOX',
    mail.map(([id, from]) => ({ raw: makeMail({ messageId: `${user}-${id}`, from }) })),
  );
}

/** Mailbox → its messages (id without the user) with their flags: what a history ends in. */
async function endState(user: string): Promise<string[]> {
  const lines: string[] = [];
  for (const [mailbox, messages] of await dovecot.mailboxState(user))
    for (const message of messages) {
      const id = message.messageId.replace(`<${user}-`, '').replace('@test>', '');
      lines.push(`${mailbox} ${id} ${message.flags.filter((flag) => flag !== '\\Recent').join(' ')}`);
    }
  return lines.sort();
}

async function run(user: string, state: InspectableStore): Promise<RulesetSummary> {
  return await runRuleset(rules(), dovecot.account(user), { dryRun: false, state });
}

type Damage = 'truncated' | 'not JSON' | 'wrong version' | 'wrong shape';
const DAMAGES: readonly Damage[] = ['truncated', 'not JSON', 'wrong version', 'wrong shape'];

interface Backend {
  readonly name: string;
  make(): Promise<InspectableStore>;
  /** Damages the record at `key` (there already) as `damage` says, below the store's interface. */
  damage(store: InspectableStore, key: string, damage: Damage): Promise<void>;
}

const FILE: Backend = {
  name: 'file',
  make: async () => testState(),
  async damage(store, key, damage) {
    if (damage === 'wrong shape') return void (await store.put(key, 42));
    const [raw] = (await store.inspect(key)).filter((each) => each.key === key);
    assert.ok(raw, `${key} is there to damage`);
    const text = readFileSync(raw.where, 'utf8');
    const value = JSON.parse(text).value;
    const damaged = {
      truncated: text.slice(0, Math.floor(text.length / 2)),
      'not JSON': 'not a record\n',
      'wrong version': JSON.stringify({ version: 'two', value }),
    }[damage];
    writeFileSync(raw.where, damaged);
  },
};

const DYNAMODB: Backend = {
  name: 'DynamoDB',
  make: async () => new DynamoDbStateStore(dynamo.client, await dynamo.createStateTable()),
  async damage(store, key, damage) {
    if (damage === 'wrong shape') return void (await store.put(key, 42));
    const table = (store as DynamoDbStateStore).description.replace('DynamoDB table ', '');
    const slash = key.indexOf('/');
    const Key = { pk: { S: key.slice(0, slash) }, sk: { S: key.slice(slash + 1) } };
    const { Item } = await dynamo.client.send(new GetItemCommand({ TableName: table, Key }));
    assert.ok(Item, `${key} is there to damage`);
    const text = Item.value?.S ?? '';
    const changed = {
      truncated: { ...Item, value: { S: text.slice(0, Math.floor(text.length / 2)) } },
      'not JSON': { ...Item, value: { S: 'not a record' } },
      'wrong version': { ...Item, version: { S: 'two' } },
    }[damage];
    await dynamo.client.send(new PutItemCommand({ TableName: table, Item: changed }));
  },
};

/**
 * Each kind of record, and where one is after the first run: found (written by the run), or planted in a
 * plausible form first (the records a clean run leaves none of).
 */
const KINDS: readonly {
  kind: string;
  key(scope: string, store: InspectableStore, runId: string): Promise<string>;
}[] = [
  { kind: 'checkpoint', key: async (scope) => `${scope}/checkpoints/test/INBOX` },
  { kind: 'deliveries', key: async (scope, store) => only(store, `${scope}/deliveries/`) },
  { kind: 'history entry', key: async (scope, _store, runId) => `${scope}/journal/${runId}` },
  { kind: 'history index', key: async (_scope, _store, runId) => `mailsift-runs/${runId}` },
  {
    kind: 'lease',
    key: async (scope, store) =>
      planted(store, `${scope}/lease`, {
        token: 'old',
        expiresAt: 1,
        host: 'elsewhere',
        boot: '',
        pid: 1,
        started: 0,
        rulesets: ['test'],
      }),
  },
  {
    kind: 'copy journal',
    key: async (scope, store) =>
      planted(store, `${scope}/copies/planted`, {
        token: 'old',
        ruleset: 'test',
        rule: 'file',
        source: 'INBOX',
        sourceValidity: '1',
        target: 'Finance',
        targetValidity: '',
        targetUidNext: 1,
        uids: '99',
        writtenAt: 1,
      }),
  },
  {
    kind: 'pending expunge',
    key: async (scope, store) => planted(store, `${scope}/expunges/INBOX/1/0`, { uids: '99' }),
  },
  {
    kind: 'token',
    key: async (scope, store) => planted(store, `${scope}/oauth/refresh-token`, { token: 'r' }),
  },
];

async function only(store: InspectableStore, prefix: string): Promise<string> {
  const keys = (await store.inspect(prefix)).map((raw) => raw.key);
  assert.equal(keys.length, 1, `one record under ${prefix}: ${keys}`);
  return keys[0] as string;
}

async function planted(store: InspectableStore, key: string, value: unknown): Promise<string> {
  await store.put(key, value);
  return key;
}

let expected: string[] | undefined;

/** The end state of the same history without damage, on a user of its own. */
async function undisturbed(): Promise<string[]> {
  if (expected) return expected;
  const user = dovecot.addUser();
  const state = testState();
  deliver(user, FIRST);
  assert.equal((await run(user, state)).error, undefined);
  deliver(user, LATER);
  assert.equal((await run(user, state)).error, undefined);
  expected = await endState(user);
  return expected;
}

for (const backend of [FILE, DYNAMODB]) {
  describe(`a damaged record, on the ${backend.name} state`, () => {
    for (const { kind, key: keyOf } of KINDS) {
      it(`${kind}: named, nothing lost, set aside by repair, and the next run converges (every damage)`, async () => {
        for (const damage of DAMAGES) {
          const label = `${kind}, ${damage}`;
          const user = dovecot.addUser();
          const state = await backend.make();
          const scope = accountScope(dovecot.account(user));
          deliver(user, FIRST);
          const first = await run(user, state);
          assert.equal(first.error, undefined, label);
          const key = await keyOf(scope, state, first.runId ?? '');
          deliver(user, LATER);
          await backend.damage(state, key, damage);

          const damaged = await run(user, state);
          const errors = [damaged.error, ...damaged.rules.map((rule) => rule.error)].filter(Boolean);
          for (const error of errors)
            assert.match(
              String(error),
              /mailsift state repair/,
              `${label}: a clear state error, naming the cure`,
            );
          const ids = (await endState(user)).map((line) => line.split(' ')[1]).sort();
          assert.deepEqual(ids, ['a1', 'a2', 'b1', 'b2', 'o1'], `${label}: nothing lost, nothing twice`);

          // A checkpoint that reads but is none made the run scan in full, which set it aside itself.
          const setAsideByRun = kind === 'checkpoint' && damage === 'wrong shape';
          const check = await checkState(state);
          assert.deepEqual(
            check.damaged.map((finding) => finding.key),
            setAsideByRun ? [] : [key],
            `${label}: check names exactly that record`,
          );
          const repaired = await repairState(state, undefined, new Date());
          assert.deepEqual(
            repaired.map((finding) => finding.key),
            setAsideByRun ? [] : [key],
            label,
          );
          assert.deepEqual((await checkState(state)).damaged, [], `${label}: clean after repair`);
          const next = await run(user, state);
          assert.equal(next.error, undefined, `${label}: ${next.error}`);
          for (const rule of next.rules) assert.equal(rule.error, undefined, `${label}: ${rule.error}`);
          assert.deepEqual(await endState(user), await undisturbed(), `${label}: converged`);
        }
      });
    }
  });
}
