import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactMessage } from '../../functions/mail/redact.ts';
import { redactText } from '../../functions/mail/redact-text.ts';
import { messageFacts } from '../../functions/match/message-file.ts';

const lines = (...each: string[]) => Buffer.from(`${each.join('\r\n')}\r\n`, 'utf8');
const none = { addresses: [], words: [] };

describe('redactMessage', () => {
  it("replaces a multipart's preamble and epilogue, keeping its boundaries and its size", () => {
    const raw = lines(
      'Subject: s',
      'Content-Type: multipart/mixed; boundary="b"',
      '',
      'private preamble',
      '--b',
      'Content-Type: text/plain',
      '',
      'private part',
      '--b--',
      'private footer',
    );
    const redacted = redactMessage(raw, none).toString();
    assert.doesNotMatch(redacted, /private/);
    assert.match(redacted, /^--b$/m);
    assert.match(redacted, /^--b--$/m);
    assert.equal(redacted.length, raw.length);
  });

  it('replaces all of a multipart whose boundary never comes, and a base64 attached message', () => {
    const lost = lines('Content-Type: multipart/mixed; boundary=zzz', '', 'private text with no boundary');
    assert.doesNotMatch(redactMessage(lost, none).toString(), /private/);
    const encoded = lines(
      'Content-Type: multipart/mixed; boundary="b"',
      '',
      '--b',
      'Content-Type: message/global',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from('Subject: private\r\n\r\nprivate body').toString('base64'),
      '--b--',
    );
    const redacted = redactMessage(encoded, none);
    assert.doesNotMatch(
      Buffer.from(redacted.toString().split('\r\n')[6] ?? '', 'base64').toString(),
      /private/,
    );
  });

  it('replaces local parts in every header field but those the rules match on, quoted ones too', () => {
    const raw = lines(
      'From: "Ana" <ana.private@example.org>',
      'Received: from mx by host for <ana.private@example.org>',
      'Reply-To: "ana private"@example.org',
      'X-Ticket: ticket-4711@tracker.example',
      'Subject: hello',
      '',
      'x',
    );
    const redacted = redactMessage(raw, { ...none, headers: ['x-ticket'] }).toString();
    assert.doesNotMatch(redacted, /ana\.private|"ana private"/);
    assert.match(redacted, /^Received: from mx by host for <x{11}@example\.org>$/m);
    assert.match(redacted, /^X-Ticket: ticket-4711@tracker\.example$/m, 'a field the rules match on stays');
    assert.equal(redacted.length, raw.length);
  });

  it('keeps ISO-8859-1 text the same size, byte for byte, and decodable', () => {
    const raw = lines(
      'Content-Type: text/plain; charset=iso-8859-1',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'caf=E9 secret cr=E8me invoice',
    );
    const redacted = redactMessage(raw, { ...none, words: ['invoice'] });
    assert.doesNotMatch(redacted.toString(), /secret|caf|cr/);
    assert.match(messageFacts(redacted).text?.parts[0] ?? '', /invoice/);
    assert.ok(Math.abs(redacted.length - raw.length) <= raw.length * 0.01);
  });
});

describe('redactText', () => {
  it('keeps tag and attribute names of HTML, not attribute values or comments', () => {
    const redacted = redactText(
      '<a href="https://private.example/x">link</a><!-- private note --><img alt=\'photo of ana\'>',
      [],
      true,
    );
    assert.doesNotMatch(redacted, /private|ana|photo|link/);
    assert.match(redacted, /^<a href="xxxxx:\/\/xxxxxxx\.xxxxxxx\/x">xxxx<\/a>/);
    assert.match(redacted, /<img alt='/);
  });

  it('keeps the words asked for where they are, also after characters that change length when lower-cased', () => {
    assert.equal(redactText('İİ invoice secret', ['INVOICE'], false), 'éé invoice xxxxxx');
    assert.equal(Buffer.byteLength(redactText('naïve 日本', [], false)), Buffer.byteLength('naïve 日本'));
  });
});
