/**
 * A realistic, deterministic inbox for the demo and the benchmark: invoices with PDFs, newsletters, monitoring
 * alerts and personal mail (non-ASCII names and subjects, attachments), at ages that never sit within five days
 * of the 30-day line the benchmark rules use, so every tool draws that line the same way.
 */
import type { SeedMessage } from './dovecot.ts';
import { makeMail } from './mail.ts';

const DAY = 86_400_000;

/** A small deterministic PRNG (mulberry32), so every run seeds the same mailbox. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Days ago, drawn either below 25 or above 35. */
function age(next: () => number, maxDays: number): number {
  const days = next() < 0.5 ? next() * 25 : 35 + next() * (maxDays - 35);
  return days * DAY;
}

const PEOPLE = [
  'Anna Schröder <anna@friends.example>',
  'José Núñez <jose@amigos.example>',
  'Zoë Martin <zoe@home.example>',
  'Ola Nordmann <ola@fjord.example>',
];
const PERSONAL_SUBJECTS = [
  '=?UTF-8?B?R3LDvMOfZSBhdXMgQmVybGlu?=',
  'Dinner on Friday?',
  '=?UTF-8?Q?Caf=C3=A9_tomorrow?=',
  'Photos from the trip',
];

export interface RealisticMessage extends SeedMessage {
  readonly kind: 'invoice' | 'newsletter' | 'alert' | 'resolved' | 'personal';
}

/** `count` messages: 30% invoices, 30% newsletters, 15% alerts, 25% personal. */
export function realisticMailbox(count: number, now = new Date(), seed = 42): RealisticMessage[] {
  const next = random(seed);
  const messages: RealisticMessage[] = [];
  for (let i = 0; i < count; i++) {
    const roll = next();
    const seen = next() < 0.5;
    if (roll < 0.3) {
      messages.push({
        kind: 'invoice',
        flags: seen ? 'S' : '',
        internalDate: new Date(now.getTime() - age(next, 60)),
        raw: makeMail({
          from: 'Acme Billing <billing@acme.example>',
          subject: `Invoice ${10_000 + i}`,
          text: `Please find invoice ${10_000 + i} attached.\nTotal due: ${(next() * 900 + 50).toFixed(2)} EUR`,
          attachments: [
            {
              filename: `invoice-${10_000 + i}.pdf`,
              contentType: 'application/pdf',
              content: `%PDF-1.4 invoice ${i}`,
            },
          ],
        }),
      });
    } else if (roll < 0.6) {
      messages.push({
        kind: 'newsletter',
        flags: seen ? 'S' : '',
        internalDate: new Date(now.getTime() - age(next, 120)),
        raw: makeMail({
          from: 'Weekly Letters <news@letters.example>',
          subject: i % 3 === 0 ? '=?UTF-8?Q?Neuigkeiten_f=C3=BCr_Sie?=' : `Weekly digest #${i}`,
          headers: {
            'List-Unsubscribe': '<mailto:unsubscribe@letters.example>',
            'List-Id': '<weekly.letters.example>',
          },
          text: 'This week: '.concat('news and more news. '.repeat(20)),
        }),
      });
    } else if (roll < 0.75) {
      const resolved = next() < 0.3;
      messages.push({
        kind: resolved ? 'resolved' : 'alert',
        flags: seen ? 'S' : '',
        internalDate: new Date(now.getTime() - next() * 3 * DAY),
        raw: makeMail({
          from: 'monitoring@ops.example',
          subject: `${resolved ? '[RESOLVED]' : '[ALERT]'} disk usage on db${i % 7} at ${80 + (i % 20)}%`,
          headers: { 'X-Alert-Id': `A-${i}` },
          text: `Host db${i % 7}: /var at ${80 + (i % 20)}%.\nRunbook: https://runbooks.example/disk`,
        }),
      });
    } else {
      messages.push({
        kind: 'personal',
        flags: seen ? 'S' : '',
        internalDate: new Date(now.getTime() - age(next, 200)),
        raw: makeMail({
          from: PEOPLE[i % PEOPLE.length],
          subject: PERSONAL_SUBJECTS[i % PERSONAL_SUBJECTS.length],
          text: 'Hi!\n\nSee you soon.',
          ...(i % 5 === 0
            ? {
                attachments: [
                  { filename: `photo-${i}.jpg`, contentType: 'image/jpeg', content: 'x'.repeat(20_000) },
                ],
              }
            : {}),
        }),
      });
    }
  }
  return messages;
}
