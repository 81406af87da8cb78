import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fleetManifest, rulesetLookup, runsDue, scheduleKey } from '../../functions/fleet/manifest.ts';
import {
  decodeRunMessage,
  deduplicationId,
  encodeRunMessage,
  messageGroupId,
} from '../../functions/fleet/run-message.ts';
import { parseRuleFile } from '../../functions/rules/load.ts';

const file = (name: string, head: string) =>
  parseRuleFile(
    `rules/${name}.yaml`,
    `${head}\nrules:\n  - { name: r, match: { from: a@ }, actions: [{ addFlags: [$A] }] }\n`,
  );
const files = [
  file('invoices', 'accounts: [acme, globex]\nschedule: rate(15 minutes)'),
  file('alerts', 'account: ops\nschedule: rate(15 minutes)'),
  file('nightly', 'account: ops\nschedule: cron(0 3 * * ? *)\ntimezone: Europe/Berlin'),
];

describe('fleet manifest', () => {
  it('groups rule files by (expression, time zone), and a tick starts each file on each account', () => {
    const manifest = fleetManifest(files);
    assert.deepEqual(manifest.schedules, {
      'rate(15 minutes)': ['alerts', 'invoices'],
      'cron(0 3 * * ? *) Europe/Berlin': ['nightly'],
    });
    assert.equal(scheduleKey(files[2] as (typeof files)[number]), 'cron(0 3 * * ? *) Europe/Berlin');
    const at = '2026-12-01T10:15:00Z';
    assert.deepEqual(
      runsDue(manifest, 'rate(15 minutes)', at).map((run) => `${run.ruleset}@${run.account}`),
      ['alerts@ops', 'invoices@acme', 'invoices@globex'],
    );
    assert.deepEqual(runsDue(manifest, 'rate(1 day)', at), []);
  });

  it('finds the ruleset of a queued (ruleset, account), and nothing for a pair no longer deployed', () => {
    const lookup = rulesetLookup(fleetManifest(files));
    const found = lookup('invoices', 'globex');
    assert.equal(found?.account, 'globex');
    assert.equal(found?.rules[0]?.name, 'r');
    assert.ok(found && !('accounts' in found));
    assert.equal(lookup('invoices', 'ops'), undefined);
    assert.equal(lookup('toString', 'ops'), undefined, 'no inherited property passes for a file');
  });
});

describe('run messages', () => {
  const run = { ruleset: 'invoices', account: 'acme', scheduledTime: '2026-12-01T10:15:00Z' };

  it('round-trip, and carry a 64-hex deduplication id that changes with any field', () => {
    assert.deepEqual(decodeRunMessage(encodeRunMessage(run)), run);
    assert.match(deduplicationId(run), /^[0-9a-f]{64}$/);
    const others = [
      { ...run, ruleset: 'alerts' },
      { ...run, account: 'globex' },
      { ...run, scheduledTime: '2026-12-01T10:30:00Z' },
    ];
    for (const other of others) assert.notEqual(deduplicationId(other), deduplicationId(run));
    assert.equal(messageGroupId(run), 'acme');
  });

  it('refuse what is not a run message, without echoing it', () => {
    for (const [body, message] of [
      ['not json', 'the queued message is not JSON'],
      ['{"ruleset":"x"}', 'the queued message is not a run message of format 1'],
      [
        '{"format":1,"ruleset":"x","account":"y"}',
        'the queued message lacks ruleset, account or scheduledTime',
      ],
      [
        '{"format":1,"ruleset":"x","account":"y","scheduledTime":"soon"}',
        'the queued message has no valid scheduledTime',
      ],
    ] as const)
      assert.throws(() => decodeRunMessage(body), { name: 'RunMessageError', message });
  });
});
