/** Builds RFC 5322 messages for tests, so fixtures say what they contain instead of hiding it in files. */
export interface TestMail {
  readonly from?: string;
  readonly to?: string;
  readonly cc?: string;
  readonly subject?: string;
  readonly date?: Date | null;
  readonly messageId?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly text?: string;
  readonly attachments?: readonly { filename: string; contentType: string; content: string }[];
}

let counter = 0;

export function makeMail(mail: TestMail = {}): string {
  counter += 1;
  const lines = [
    `From: ${mail.from ?? 'someone@example.com'}`,
    `To: ${mail.to ?? 'me@example.com'}`,
    ...(mail.cc ? [`Cc: ${mail.cc}`] : []),
    `Subject: ${mail.subject ?? `message ${counter}`}`,
    ...(mail.date === null ? [] : [`Date: ${(mail.date ?? new Date('2026-01-05T10:00:00Z')).toUTCString()}`]),
    `Message-ID: <${mail.messageId ?? `m${counter}.${process.pid}`}@test>`,
    'MIME-Version: 1.0',
    ...Object.entries(mail.headers ?? {}).map(([name, value]) => `${name}: ${value}`),
  ];
  const text = mail.text ?? `Body of message ${counter}.`;
  if (!mail.attachments?.length) {
    return [...lines, 'Content-Type: text/plain; charset=utf-8', '', text, ''].join('\r\n');
  }
  const boundary = `b${counter}x`;
  const parts = [
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    text,
    ...mail.attachments.flatMap((attachment) => [
      `--${boundary}`,
      `Content-Type: ${attachment.contentType}; name="${attachment.filename}"`,
      `Content-Disposition: attachment; filename="${attachment.filename}"`,
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from(attachment.content).toString('base64'),
    ]),
    `--${boundary}--`,
    '',
  ];
  return [...lines, `Content-Type: multipart/mixed; boundary="${boundary}"`, '', ...parts].join('\r\n');
}

/** Message-ID header value `makeMail` writes for `messageId`. */
export function idOf(messageId: string): string {
  return `<${messageId}@test>`;
}
