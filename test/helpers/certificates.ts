/** Test certificates made with openssl: self-signed for the test servers, and a CA-signed one that expired. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

const SUBJECT_ALT_NAME = 'subjectAltName=DNS:localhost,IP:127.0.0.1';

function openssl(args: string[], cwd?: string): void {
  execFileSync('openssl', args, { stdio: 'pipe', cwd });
}

function read(certFile: string, keyFile: string): TestCertificate {
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

/** `openssl req -x509`: a new key and a certificate signed by it, valid for two days. */
function selfSign(
  keyFile: string,
  certFile: string,
  subject: string,
  extra: string[] = [],
  cwd?: string,
): void {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      subject,
      ...extra,
    ],
    cwd,
  );
}

/** A self-signed certificate for localhost and 127.0.0.1, valid for two days. */
export function makeSelfSigned(dir: string): TestCertificate {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  selfSign(keyFile, certFile, '/CN=localhost', ['-addext', SUBJECT_ALT_NAME]);
  return read(certFile, keyFile);
}

/**
 * A certificate for localhost signed by a fresh test CA, valid only on 1 January 2020: trusted through
 * `ca`, and expired. (`openssl req -days` takes no date in the past; `openssl ca` does.)
 */
export function makeExpired(parent: string): TestCertificate & { readonly ca: string } {
  const dir = mkdtempSync(join(parent, 'expired-'));
  selfSign('ca.key', 'ca.pem', '/CN=mailsift test CA', [], dir);
  openssl(
    [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'key.pem',
      '-out',
      'request.csr',
      '-subj',
      '/CN=localhost',
    ],
    dir,
  );
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '01\n');
  writeFileSync(join(dir, 'extensions.cnf'), `extendedKeyUsage=serverAuth\n${SUBJECT_ALT_NAME}\n`);
  writeFileSync(
    join(dir, 'ca.cnf'),
    '[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n' +
      'default_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n',
  );
  openssl(
    [
      'ca',
      '-batch',
      '-config',
      'ca.cnf',
      '-cert',
      'ca.pem',
      '-keyfile',
      'ca.key',
      '-in',
      'request.csr',
      '-out',
      'cert.pem',
      '-startdate',
      '20200101000000Z',
      '-enddate',
      '20200102000000Z',
      '-extfile',
      'extensions.cnf',
      '-notext',
    ],
    dir,
  );
  return {
    ...read(join(dir, 'cert.pem'), join(dir, 'key.pem')),
    ca: readFileSync(join(dir, 'ca.pem'), 'utf8'),
  };
}
