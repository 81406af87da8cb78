/**
 * Broken and hostile mail, generated (never downloaded): an invalid charset, 2,000-character header lines, 50 and
 * 20 levels of nested multiparts, odd-case header names, broken base64. Shared by the hostile-mail test and the
 * webhook benchmark.
 */
const LONG = 'x'.repeat(2000);

function message(id: string, headers: string, body: string): string {
  return `From: corpus@hostile.test\r\nMessage-ID: <${id}@test>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n${headers}\r\n\r\n${body}`;
}

/** A PDF attachment inside `depth` levels of multipart/mixed. */
function nested(depth: number): string {
  let part =
    'Content-Type: application/pdf; name="deep.pdf"\r\nContent-Disposition: attachment; filename="deep.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n';
  for (let level = depth; level > 0; level--) {
    part = `Content-Type: multipart/mixed; boundary="b${level}"\r\n\r\n--b${level}\r\n${part}--b${level}--\r\n`;
  }
  return part;
}

/** In this order (tests name them by UID): nested50 is the third. */
export const HOSTILE = [
  message(
    'badcharset',
    'Subject: =?x-no-such-charset?Q?caf=E9?= status\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset="x-no-such-charset"',
    'caf\xe9 au lait\r\n',
  ),
  message('longheader', `Subject: long ${LONG}\r\nX-Long: ${LONG}`, 'a very long header\r\n'),
  `From: corpus@hostile.test\r\nMessage-ID: <nested50@test>\r\nSubject: deep\r\nMIME-Version: 1.0\r\n${nested(50)}`,
  'fROM: corpus@hostile.test\r\nmessage-ID: <oddcase@test>\r\nsUbJeCt: Weekly LETTER\r\nlist-UNSUBSCRIBE: <mailto:u@x.test>\r\n\r\nhi\r\n',
  `From: corpus@hostile.test\r\nMessage-ID: <nested20@test>\r\nSubject: less deep\r\nMIME-Version: 1.0\r\n${nested(20)}`,
  message(
    'badbase64',
    'Subject: broken body\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64',
    '@@@@not base64 at all####\r\n',
  ),
];
