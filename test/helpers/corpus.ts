/** A small mailbox of realistic messages whose properties the match tests rely on. */
import type { SeedMessage } from './dovecot.ts';
import { makeMail } from './mail.ts';

export const NOW = new Date();
const minutesAgo = (minutes: number) => new Date(NOW.getTime() - minutes * 60_000);
const daysAgo = (days: number) => minutesAgo(days * 24 * 60);

/** Seeded in this order, so UIDs are 1..7 in this order. */
export const CORPUS: readonly (SeedMessage & { id: string })[] = [
  {
    id: 'inv1',
    flags: 'S',
    internalDate: daysAgo(40),
    raw: makeMail({
      messageId: 'inv1',
      from: 'Acme Billing <billing@acme.test>',
      subject: 'Invoice 1001',
      attachments: [
        { filename: 'invoice-1001.pdf', contentType: 'application/pdf', content: '%PDF-1.4 fake' },
      ],
    }),
  },
  {
    id: 'inv2',
    internalDate: minutesAgo(120),
    raw: makeMail({ messageId: 'inv2', from: 'billing@acme.test', subject: 'INVOICE 1002 reminder' }),
  },
  {
    id: 'news1',
    flags: 'S',
    internalDate: daysAgo(45),
    raw: makeMail({
      messageId: 'news1',
      from: 'news@letters.test',
      subject: 'Weekly digest',
      headers: { 'List-Unsubscribe': '<mailto:unsub@letters.test>', 'List-Id': '<weekly.letters.test>' },
    }),
  },
  {
    id: 'news2',
    flags: 'F',
    internalDate: daysAgo(3),
    raw: makeMail({
      messageId: 'news2',
      from: 'news@letters.test',
      subject: 'Special offer',
      headers: { 'List-Unsubscribe': '<mailto:unsub@letters.test>' },
    }),
  },
  {
    id: 'alert1',
    internalDate: minutesAgo(30),
    raw: makeMail({
      messageId: 'alert1',
      from: 'monitoring@ops.test',
      to: 'oncall@ops.test',
      cc: 'team@ops.test',
      subject: '[ALERT] disk full on db1',
      headers: { 'X-Priority': '1 (Highest)' },
    }),
  },
  {
    id: 'alert2',
    flags: 'R',
    internalDate: minutesAgo(20),
    raw: makeMail({
      messageId: 'alert2',
      from: 'monitoring@ops.test',
      subject: '[RESOLVED] disk full on db1',
    }),
  },
  {
    id: 'personal',
    flags: 'D',
    internalDate: daysAgo(10),
    raw: makeMail({
      messageId: 'personal',
      from: 'Anna <anna@friends.test>',
      // "Grüße aus Berlin" as an RFC 2047 encoded word
      subject: '=?UTF-8?B?R3LDvMOfZSBhdXMgQmVybGlu?=',
      text: 'See you soon!',
      attachments: [{ filename: 'photo.png', contentType: 'image/png', content: 'x'.repeat(600 * 1024) }],
    }),
  },
];

/** YYYY-MM-DD of `days` ago, for before/since. */
export function isoDaysAgo(days: number): string {
  return daysAgo(days).toISOString().slice(0, 10);
}

/** Each case: a match, and the corpus messages it must select. */
export const MATCH_CASES: readonly { match: string; expected: string[] }[] = [
  { match: '{ from: "billing@" }', expected: ['inv1', 'inv2'] },
  { match: '{ to: "oncall@" }', expected: ['alert1'] },
  { match: '{ cc: "team@" }', expected: ['alert1'] },
  { match: '{ subject: "invoice" }', expected: ['inv1', 'inv2'] },
  { match: '{ body: "see you soon" }', expected: ['personal'] },
  { match: '{ text: "digest" }', expected: ['news1'] },
  { match: '{ header: { List-Unsubscribe: "" } }', expected: ['news1', 'news2'] },
  { match: '{ header: { X-Priority: "highest" } }', expected: ['alert1'] },
  { match: '{ seen: true }', expected: ['inv1', 'news1'] },
  { match: '{ seen: false, from: "news@" }', expected: ['news2'] },
  { match: '{ flagged: true }', expected: ['news2'] },
  { match: '{ answered: true }', expected: ['alert2'] },
  { match: '{ draft: true }', expected: ['personal'] },
  { match: '{ olderThan: 35d }', expected: ['inv1', 'news1'] },
  { match: '{ olderThan: 90m, newerThan: 1d }', expected: ['inv2'] },
  { match: '{ newerThan: 1h }', expected: ['alert1', 'alert2'] },
  { match: `{ before: "${isoDaysAgo(35)}" }`, expected: ['inv1', 'news1'] },
  { match: `{ since: "${isoDaysAgo(5)}" }`, expected: ['alert1', 'alert2', 'inv2', 'news2'] },
  { match: '{ larger: 500KB }', expected: ['personal'] },
  { match: '{ smaller: 100KB, from: "monitoring@" }', expected: ['alert1', 'alert2'] },
  { match: '{ any: [{ from: "anna@" }, { answered: true }] }', expected: ['alert2', 'personal'] },
  { match: '{ from: "monitoring@", not: { answered: true } }', expected: ['alert1'] },
  { match: "{ subjectMatches: '^\\[ALERT\\]' }", expected: ['alert1'] },
  { match: '{ subjectMatches: "grüße" }', expected: ['personal'] },
  { match: "{ fromMatches: '^Anna <' }", expected: ['personal'] },
  { match: "{ headerMatches: { X-Priority: '^1' } }", expected: ['alert1'] },
  { match: '{ attachment: { type: application/pdf } }', expected: ['inv1'] },
  { match: "{ attachment: { filename: '*.png' } }", expected: ['personal'] },
  { match: "{ attachment: { type: 'image/*' }, from: anna@ }", expected: ['personal'] },
  { match: "{ any: [{ from: anna@ }, { subjectMatches: 'RESOLVED' }] }", expected: ['alert2', 'personal'] },
  { match: "{ from: monitoring@, not: { subjectMatches: 'RESOLVED' } }", expected: ['alert1'] },
  {
    match: "{ not: { any: [{ seen: true }, { subjectMatches: 'alert|resolved|grüße|offer' }] } }",
    expected: ['inv2'],
  },
];
