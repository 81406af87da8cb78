import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  actsOnce,
  candidateSet,
  changesSince,
  durationsOf,
  needsCandidates,
  planGroup,
  ruleScan,
  rulesDigest,
  withinChanges,
} from '../../functions/engine/scan.ts';
import type { MailboxInfo } from '../../functions/imap/session.ts';
import { MAX_UID_SET_LENGTH } from '../../functions/imap/uid-set.ts';
import { type Checkpoint, Checkpoints, UNREADABLE } from '../../functions/state/checkpoints.ts';
import { MemoryStateStore } from '../../functions/state/memory-store.ts';
import { rulesetOf } from '../helpers/rulesets.ts';

const now = new Date('2026-06-15T12:00:00.000Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const rules = rulesetOf(`
rules:
  - name: tag
    match: { from: billing@ }
    actions: [{ addFlags: [$Invoice] }]
  - name: old
    match: { any: [{ olderThan: 30d }, { not: { newerThan: 2h } }] }
    actions: [{ moveTo: Archive }]
  - name: copy
    match: { from: boss@ }
    actions: [{ copyTo: Boss }]
  - name: post-every-time
    match: { from: alerts@ }
    actions: [{ webhook: { url: 'https://example.com/hook', dedupe: false } }]
  - name: post-once
    match: { from: alerts@ }
    actions: [{ webhook: { url: 'https://example.com/hook' } }, { addFlags: [\\Seen] }]
  - name: onto-itself
    match: { from: me@ }
    actions: [{ moveTo: INBOX }]
`).rules;
const byName = (name: string) => rules.find((rule) => rule.name === name) ?? assert.fail(name);

function mailbox(overrides: Partial<MailboxInfo> = {}): MailboxInfo {
  return {
    path: 'INBOX',
    uidValidity: 7n,
    exists: 10,
    uidNext: 11,
    highestModseq: 40n,
    readOnly: false,
    justSelected: true,
    permanentFlags: new Set(['\\*']),
    ...overrides,
  };
}

const digest = rulesDigest(rules, 'INBOX');
const checkpoint: Checkpoint = {
  digest,
  uidValidity: 7n,
  uidNext: 11,
  highestModseq: 40n,
  at: new Date(now.getTime() - HOUR),
  fullAt: new Date(now.getTime() - 2 * HOUR),
};
const plan = (overrides: Partial<Parameters<typeof planGroup>[0]> = {}) =>
  planGroup({
    checkpoint,
    digest,
    mailbox: mailbox(),
    now,
    fullScan: false,
    fullScanEveryMs: DAY,
    ...overrides,
  });

describe('planGroup', () => {
  it('scans incrementally from a checkpoint of the same rules, mailbox and UIDVALIDITY', () => {
    const decided = plan();
    assert.equal(decided.fullReason, undefined);
    assert.equal(decided.since, checkpoint);
    // The next checkpoint: the mailbox as selected now, the full scan time carried over.
    assert.deepEqual(decided.next, { ...checkpoint, at: now, fullAt: checkpoint.fullAt });
  });

  it('names why it scans in full, the user’s and the server’s reasons first', () => {
    const cases: [Partial<Parameters<typeof planGroup>[0]>, string][] = [
      [{ mailbox: mailbox({ highestModseq: undefined }), fullScan: true }, 'no CONDSTORE'],
      [{ fullScan: true }, '--full'],
      [{ checkpoint: UNREADABLE }, 'checkpoint unreadable'],
      [{ checkpoint: undefined }, 'first run'],
      [{ digest: 'other' }, 'rule changed'],
      [{ mailbox: mailbox({ uidValidity: 8n }) }, 'uidvalidity changed'],
      [{ mailbox: mailbox({ highestModseq: 12n }) }, 'mailbox went back: HIGHESTMODSEQ 12 < 40'],
      [{ mailbox: mailbox({ uidNext: 9 }) }, 'mailbox went back: UIDNEXT 9 < 11'],
      [{ now: new Date(checkpoint.at.getTime() - 1) }, 'clock went back'],
      [{ fullScanEveryMs: 2 * HOUR }, 'periodic'],
    ];
    for (const [overrides, reason] of cases) assert.equal(plan(overrides).fullReason, reason, reason);
  });

  it('keeps no checkpoint without CONDSTORE, and restarts the periodic clock after a full scan', () => {
    assert.equal(plan({ mailbox: mailbox({ highestModseq: undefined }) }).next, undefined);
    assert.deepEqual(plan({ fullScanEveryMs: HOUR }).next?.fullAt, now);
  });
});

describe('ruleScan', () => {
  const context = { now, hasWithin: true, durations: [] };

  const none = { uids: [], interleaved: false };

  it('sends no SEARCH when nothing changed', () => {
    assert.equal(needsCandidates(plan(), [], true), false);
    assert.deepEqual(ruleScan(byName('tag'), 'INBOX', plan(), context, none), { scan: 'incremental' });
  });

  it('looks for candidates when UIDNEXT or HIGHESTMODSEQ moved, a rule compares with time, or SELECT was earlier', () => {
    assert.equal(needsCandidates(plan({ mailbox: mailbox({ highestModseq: 41n }) }), [], true), true);
    assert.equal(needsCandidates(plan({ mailbox: mailbox({ uidNext: 12 }) }), [], true), true);
    assert.equal(needsCandidates(plan(), [DAY], true), true);
    assert.equal(needsCandidates(plan({ checkpoint: undefined }), [DAY], true), false);
    // A mailbox selected earlier in the run: what it said then may be out of date, so the SEARCH asks.
    assert.equal(needsCandidates(plan(), [], false), true);
  });

  it('looks at just the candidates, and at new UIDs too after another mailbox’s rule ran', () => {
    const moved = plan({ mailbox: mailbox({ uidNext: 14 }) });
    const found = { uids: [3, 4, 5, 9], interleaved: false };
    assert.deepEqual(ruleScan(byName('tag'), 'INBOX', moved, context, found), {
      scan: 'incremental',
      changes: { uid: '3:5,9' },
    });
    assert.deepEqual(ruleScan(byName('tag'), 'INBOX', moved, context, { ...none, interleaved: true }), {
      scan: 'incremental',
      changes: { uid: '14:4294967295' },
    });
  });

  it('falls back to the change criteria where the candidates would make too long a line', () => {
    const scattered = Array.from({ length: 3000 }, (_, index) => index * 2 + 1);
    assert.equal(candidateSet(scattered, MAX_UID_SET_LENGTH), undefined);
    assert.deepEqual(candidateSet([1, 2, 3], MAX_UID_SET_LENGTH), [1, 2, 3]);
    const scan = ruleScan(byName('tag'), 'INBOX', plan(), context, { interleaved: false });
    assert.deepEqual(scan, { scan: 'incremental', changes: changesSince(checkpoint, context) });
  });

  it('scans in full every rule that acts again on what it acted on', () => {
    for (const name of ['copy', 'post-every-time', 'onto-itself']) {
      assert.deepEqual(ruleScan(byName(name), 'INBOX', plan(), context, none), {
        scan: 'full',
        scanReason: 'acts again',
      });
    }
    assert.deepEqual(ruleScan(byName('tag'), 'INBOX', plan({ checkpoint: undefined }), context, none), {
      scan: 'full',
      scanReason: 'first run',
    });
  });
});

describe('actsOnce', () => {
  it('holds for removals, webhooks that post once and flag changes; not for copies and repeated posts', () => {
    const verdicts = rules.map((rule) => [rule.name, actsOnce(rule, 'INBOX')]);
    assert.deepEqual(verdicts, [
      ['tag', true],
      ['old', true],
      ['copy', false],
      ['post-every-time', false],
      ['post-once', true],
      ['onto-itself', false],
    ]);
    assert.equal(actsOnce(byName('onto-itself'), 'Elsewhere'), true);
  });
});

describe('changesSince', () => {
  it('asks for new UIDs without `n:*`, a MODSEQ above the checkpoint, and each time window', () => {
    const changes = changesSince(checkpoint, { now, hasWithin: true, durations: [30 * DAY] });
    const slack = 5 * 60_000;
    assert.deepEqual(changes, {
      or: [
        { uid: '11:4294967295' },
        { modseq: 41n },
        {
          since: new Date(checkpoint.at.getTime() - 30 * DAY - slack),
          before: new Date(now.getTime() - 30 * DAY + slack),
        },
      ],
    });
  });

  it('widens the windows by a day where SEARCH compares whole days (no WITHIN)', () => {
    const changes = changesSince(checkpoint, { now, hasWithin: false, durations: [2 * HOUR] });
    assert.deepEqual(changes.or?.[2], {
      since: new Date(checkpoint.at.getTime() - 2 * HOUR - DAY),
      before: new Date(now.getTime() - 2 * HOUR + DAY),
    });
  });
});

describe('withinChanges', () => {
  const changes = { or: [{ uid: '5:4294967295' }, { modseq: 9n }] };
  it('ANDs the changes in whichever key is free', () => {
    assert.deepEqual(withinChanges({ from: 'a', deleted: false }, changes), {
      from: 'a',
      deleted: false,
      or: changes.or,
    });
    assert.deepEqual(withinChanges({ from: 'a' }, { uid: '3:5' }), { from: 'a', uid: '3:5' });
    const withOr = { or: [{ from: 'a' }, { from: 'b' }], deleted: false };
    assert.deepEqual(withinChanges(withOr, changes), { ...withOr, not: { not: changes } });
    const withBoth = { ...withOr, not: { seen: true } };
    assert.deepEqual(withinChanges(withBoth, changes), {
      not: { or: [{ not: withBoth }, { not: changes }] },
    });
  });
});

describe('durationsOf', () => {
  it('finds durations at any depth, once each, in milliseconds', () => {
    assert.deepEqual(durationsOf(rules), [2 * HOUR, 30 * DAY]);
    assert.deepEqual(durationsOf([byName('tag')]), []);
  });
});

describe('rulesDigest', () => {
  it('changes with the rules and with the mailbox', () => {
    assert.notEqual(rulesDigest(rules.slice(1), 'INBOX'), digest);
    assert.notEqual(rulesDigest(rules, 'Archive'), digest);
    assert.equal(rulesDigest(rules, 'INBOX'), digest);
  });
});

describe('Checkpoints', () => {
  it('reads back what it wrote, per ruleset and mailbox, and calls anything else unreadable', async () => {
    const store = new MemoryStateStore();
    const checkpoints = new Checkpoints(store, 'acct', 'filing');
    assert.equal(await checkpoints.load('INBOX'), undefined);
    await checkpoints.save('INBOX', checkpoint);
    assert.deepEqual(await checkpoints.load('INBOX'), checkpoint);
    assert.equal(await new Checkpoints(store, 'acct', 'other').load('INBOX'), undefined);
    assert.equal(await checkpoints.load('Archive'), undefined);
    const [record] = await store.list('acct/');
    assert.ok(record);
    for (const damaged of [null, 'text', { ...(record.value as object), uidNext: 0 }, { digest: 'x' }]) {
      await store.put(record.key, damaged);
      assert.equal(await checkpoints.load('INBOX'), UNREADABLE);
    }
  });
});
