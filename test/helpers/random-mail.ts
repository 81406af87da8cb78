/**
 * Random messages and random matches for the differential tests of the offline evaluator: MIME trees of text,
 * HTML, attachments and attached messages, in several transfer encodings and charsets, with RFC 2047 and RFC 2231
 * words; and matches drawn per match key of the registry, nested in `any` and `not`.
 */
import fc from 'fast-check';
import type { MatchTree } from '../../functions/match/tree.ts';

/** Words the messages are made of, and the matches search for: ASCII, accented, Greek, CJK. */
export const WORDS = [
  'invoice',
  'Rechnung',
  'payment',
  'meeting',
  'report',
  'newsletter',
  'café',
  'Grüße',
  'naïve',
  'Résumé',
  'Ελλάδα',
  '日本語',
  'ACME',
  'urgent',
  'order',
] as const;

const PEOPLE = [
  { name: '', address: 'billing@acme.com' },
  { name: 'Billing Team', address: 'billing@acme.com' },
  { name: 'Jürgen Müller', address: 'juergen@example.org' },
  { name: 'Smith, Alice', address: 'alice@example.org' },
  { name: 'Ελένη', address: 'eleni@example.gr' },
  { name: 'News', address: 'news@list.example.net' },
] as const;

const FLAGS = ['\\Seen', '\\Flagged', '\\Answered', '\\Draft', '$Invoice', '$Paid'] as const;

export interface RandomMessage {
  readonly raw: Buffer;
  readonly flags: readonly string[];
  readonly internalDate: Date;
}

const isAscii = (text: string) => /^[\x20-\x7e]*$/.test(text);
const isLatin1 = (text: string) => /^[\x20-\xff]*$/.test(text);

/** An RFC 2047 encoded word (B or Q) for non-ASCII text; ASCII stays as written. */
function encodedWords(text: string, q: boolean): string {
  if (isAscii(text)) return text;
  if (!q) return `=?UTF-8?B?${Buffer.from(text).toString('base64')}?=`;
  const bytes = [...Buffer.from(text)].map((byte) =>
    /[A-Za-z0-9]/.test(String.fromCharCode(byte))
      ? String.fromCharCode(byte)
      : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`,
  );
  return `=?UTF-8?Q?${bytes.join('')}?=`;
}

function addressHeader(people: readonly (typeof PEOPLE)[number][], q: boolean): string {
  return people
    .map(({ name, address }) => {
      if (!name) return address;
      if (!isAscii(name)) return `${encodedWords(name, q)} <${address}>`;
      return /[,]/.test(name) ? `"${name}" <${address}>` : `${name} <${address}>`;
    })
    .join(', ');
}

function quotedPrintable(bytes: Buffer): string {
  let line = '';
  const lines: string[] = [];
  for (const byte of bytes) {
    const char = String.fromCharCode(byte);
    const piece =
      byte === 0x0a
        ? '\n'
        : byte >= 33 && byte <= 126 && char !== '='
          ? char
          : byte === 0x20
            ? ' '
            : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    if (piece === '\n') {
      lines.push(line.replace(/ $/, '=20'));
      line = '';
      continue;
    }
    if (line.length + piece.length > 73) {
      lines.push(`${line}=`);
      line = '';
    }
    line += piece;
  }
  lines.push(line.replace(/ $/, '=20'));
  return lines.join('\r\n');
}

/** A leaf's headers and body in one of the transfer encodings, its text in a charset that can hold it. */
function leaf(
  type: string,
  text: string,
  encoding: string,
  latin1: boolean,
  extra: readonly string[] = [],
): string {
  const charset = latin1 && isLatin1(text) ? 'iso-8859-1' : 'utf-8';
  const bytes = Buffer.from(text.replace(/\n/g, '\r\n'), charset === 'utf-8' ? 'utf8' : 'latin1');
  const cte = encoding === '7bit' && !isAscii(text.replace(/\n/g, ' ')) ? '8bit' : encoding;
  const body =
    cte === 'base64'
      ? (bytes.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n')
      : cte === 'quoted-printable'
        ? quotedPrintable(Buffer.from(text, charset === 'utf-8' ? 'utf8' : 'latin1'))
        : bytes.toString('latin1');
  return [
    `Content-Type: ${type}; charset=${charset}`,
    `Content-Transfer-Encoding: ${cte}`,
    ...extra,
    '',
    body,
  ].join('\r\n');
}

const textArb = fc
  .array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 8 })
  .map((words) => words.join(' '));
const encodingArb = fc.constantFrom('7bit', 'quoted-printable', 'base64');

const attachmentArb = fc.record({
  type: fc.constantFrom('application/pdf', 'image/png', 'text/csv'),
  filename: fc.constantFrom('invoice-123.pdf', 'Résumé.pdf', 'photo.PNG', 'data.csv', ''),
  naming: fc.constantFrom('attachment', 'inline', 'name-only', 'rfc2231'),
  content: textArb,
});

type ArbitraryOf<A> = A extends fc.Arbitrary<infer T> ? T : never;

function attachmentPart(attachment: ArbitraryOf<typeof attachmentArb>): string {
  const { type, filename, naming, content } = attachment;
  const encodedName = encodedWords(filename, false);
  const disposition =
    naming === 'name-only' || !filename
      ? naming === 'name-only'
        ? []
        : [`Content-Disposition: ${naming === 'inline' ? 'inline' : 'attachment'}`]
      : naming === 'rfc2231'
        ? [`Content-Disposition: attachment; filename*=utf-8''${encodeURIComponent(filename)}`]
        : [`Content-Disposition: ${naming}; filename="${encodedName}"`];
  const name = filename && naming !== 'rfc2231' ? `; name="${encodedName}"` : '';
  const body = (
    Buffer.from(content)
      .toString('base64')
      .match(/.{1,76}/g) ?? []
  ).join('\r\n');
  return [`Content-Type: ${type}${name}`, 'Content-Transfer-Encoding: base64', ...disposition, '', body].join(
    '\r\n',
  );
}

type Body = { kind: 'plain' | 'html'; text: string; encoding: string; latin1: boolean };

const bodyArb: fc.Arbitrary<Body> = fc.record({
  kind: fc.constantFrom('plain' as const, 'html' as const),
  text: textArb,
  encoding: encodingArb,
  latin1: fc.boolean(),
});

function bodyPart(body: Body): string {
  const text = body.kind === 'html' ? `<html><body><p>${body.text}</p></body></html>` : body.text;
  return leaf(`text/${body.kind}`, text, body.encoding, body.latin1);
}

function multipart(subtype: string, parts: readonly string[], boundary: string): string {
  return [
    `Content-Type: multipart/${subtype}; boundary="${boundary}"`,
    '',
    ...parts.flatMap((part) => [`--${boundary}`, part]),
    `--${boundary}--`,
    '',
  ].join('\r\n');
}

const headersArb = fc.record({
  from: fc.constantFrom(...PEOPLE),
  to: fc.subarray([...PEOPLE], { minLength: 1, maxLength: 2 }),
  cc: fc.subarray([...PEOPLE], { maxLength: 2 }),
  subject: fc.tuple(fc.constantFrom('', 'Re: ', 'Fwd: '), textArb).map(([prefix, text]) => prefix + text),
  q: fc.boolean(),
  mailer: fc.option(fc.constantFrom('Mailer 1.0', 'ACME mail'), { nil: undefined }),
  listId: fc.boolean(),
});

const shapeArb = fc.oneof(
  fc.record({ shape: fc.constant('single' as const), body: bodyArb }),
  fc.record({ shape: fc.constant('alternative' as const), body: bodyArb, html: bodyArb }),
  fc.record({
    shape: fc.constant('mixed' as const),
    body: bodyArb,
    attachments: fc.array(attachmentArb, { minLength: 1, maxLength: 2 }),
  }),
  fc.record({ shape: fc.constant('forward' as const), body: bodyArb, inner: bodyArb, innerSubject: textArb }),
);

let counter = 0;

function bodyOf(shape: ArbitraryOf<typeof shapeArb>): string {
  counter += 1;
  switch (shape.shape) {
    case 'single':
      return bodyPart(shape.body);
    case 'alternative':
      return multipart(
        'alternative',
        [bodyPart({ ...shape.body, kind: 'plain' }), bodyPart({ ...shape.html, kind: 'html' })],
        `alt${counter}`,
      );
    case 'mixed':
      return multipart(
        'mixed',
        [bodyPart(shape.body), ...shape.attachments.map(attachmentPart)],
        `mix${counter}`,
      );
    case 'forward': {
      const inner = [
        `From: ${PEOPLE[2].address}`,
        `Subject: ${encodedWords(shape.innerSubject, false)}`,
        'MIME-Version: 1.0',
        bodyPart(shape.inner),
      ].join('\r\n');
      const attached = ['Content-Type: message/rfc822', 'Content-Disposition: attachment', '', inner].join(
        '\r\n',
      );
      return multipart('mixed', [bodyPart(shape.body), attached], `fwd${counter}`);
    }
    default:
      throw new Error('unknown message shape');
  }
}

/** Random messages received between a minute and four years before `now`, never within 30 s of a whole minute of it. */
export function messageArb(now: Date): fc.Arbitrary<RandomMessage> {
  return fc
    .record({
      headers: headersArb,
      shape: shapeArb,
      flags: fc.subarray([...FLAGS]),
      minutesAgo: fc.integer({ min: 1, max: 4 * 365 * 1440 }),
    })
    .map(({ headers, shape, flags, minutesAgo }) => {
      const internalDate = new Date(now.getTime() - minutesAgo * 60_000 - 30_000);
      counter += 1;
      const lines = [
        `From: ${addressHeader([headers.from], headers.q)}`,
        `To: ${addressHeader(headers.to, headers.q)}`,
        ...(headers.cc.length > 0 ? [`Cc: ${addressHeader(headers.cc, headers.q)}`] : []),
        `Subject: ${encodedWords(headers.subject, headers.q)}`,
        `Date: ${internalDate.toUTCString()}`,
        `Message-ID: <r${counter}.${process.pid}@test>`,
        ...(headers.mailer ? [`X-Mailer: ${headers.mailer}`] : []),
        ...(headers.listId ? ['List-Id: ACME news <news.acme.com>'] : []),
        'MIME-Version: 1.0',
      ];
      return { raw: Buffer.from(`${lines.join('\r\n')}\r\n${bodyOf(shape)}`, 'latin1'), flags, internalDate };
    });
}

const needleArb = fc.oneof(
  fc.constantFrom(...WORDS),
  fc.constantFrom(...WORDS).map((word) => word.toUpperCase()),
  fc.constantFrom('voic', 'é', 'e', 'ü', 'html', 'Content-Type', 'pdf'),
);
const addressNeedleArb = fc.constantFrom(
  'billing',
  'acme.com',
  'Müller',
  'MÜLLER',
  'alice',
  'Smith',
  'ελένη',
  'example',
  'news@',
);

/** One generator per match key: adding a key to the registry without one fails the registry test. */
export const LEAF_ARBITRARIES: Readonly<Record<string, fc.Arbitrary<unknown>>> = {
  from: addressNeedleArb,
  to: addressNeedleArb,
  cc: addressNeedleArb,
  subject: needleArb,
  body: needleArb,
  text: needleArb,
  header: fc.constantFrom(
    { 'List-Id': '' },
    { 'X-Mailer': 'mail' },
    { 'List-Id': 'acme' },
    { 'X-Mailer': '' },
    { 'List-Id': '', 'X-Mailer': 'mail' },
  ),
  seen: fc.boolean(),
  flagged: fc.boolean(),
  answered: fc.boolean(),
  draft: fc.boolean(),
  keyword: fc.constantFrom('$Invoice', '$Paid', '$invoice'),
  notKeyword: fc.constantFrom('$Invoice', '$Paid'),
  olderThan: fc.constantFrom('90m', '12h', '30d', '8w', '400d'),
  newerThan: fc.constantFrom('90m', '12h', '30d', '8w', '400d'),
  before: fc.constantFrom('2024-01-01', '2025-06-15', '2026-11-30'),
  since: fc.constantFrom('2024-01-01', '2025-06-15', '2026-11-30'),
  larger: fc.constantFrom(500, 1000, '2KB', '5KB'),
  smaller: fc.constantFrom(500, 1000, '2KB', '5KB'),
  subjectMatches: fc.constantFrom('^Re:', 'invoice|rechnung', '/^[A-Z]/', 'café$', 'Ελλάδα'),
  fromMatches: fc.constantFrom('@acme\\.com>?$', '^Billing', 'Müller', '/^news@/'),
  headerMatches: fc.constantFrom({ 'X-Mailer': '^Mailer \\d' }, { 'List-Id': 'news\\.acme' }),
  attachment: fc.constantFrom(
    { type: 'application/pdf' },
    { filename: '*.pdf' },
    { type: 'image/*' },
    { filename: 'Résumé*' },
    { type: 'text/csv', filename: 'data.*' },
    { type: 'message/rfc822' },
  ),
};

/** Matches of the given keys: one to three leaves, optionally an `any` of two and a `not`, two levels deep. */
export function matchArb(keys: readonly string[] = Object.keys(LEAF_ARBITRARIES)): fc.Arbitrary<MatchTree> {
  const leafObject = fc
    .uniqueArray(fc.constantFrom(...keys), { minLength: 1, maxLength: 2 })
    .chain((chosen) =>
      fc.tuple(
        ...chosen.map((key) =>
          (LEAF_ARBITRARIES[key] as fc.Arbitrary<unknown>).map((value) => [key, value] as const),
        ),
      ),
    )
    .map((entries) => Object.fromEntries(entries) as MatchTree);
  const { tree } = fc.letrec<{ tree: MatchTree }>((self) => ({
    tree: fc.oneof(
      { maxDepth: 2, depthIdentifier: 'match', withCrossShrink: true },
      leafObject,
      fc
        .tuple(leafObject, fc.array(self('tree'), { minLength: 1, maxLength: 2 }))
        .map(([own, any]) => ({ ...own, any })),
      fc.tuple(leafObject, self('tree')).map(([own, not]) => ({ ...own, not })),
      self('tree').map((not) => ({ not })),
    ),
  }));
  return tree;
}
