/**
 * Starts a real, throwaway Cyrus IMAP 3.6 on 127.0.0.1 for one test file, from Debian's packages unpacked by
 * `.ci/install-imap-servers` (they conflict with dovecot-imapd in apt): private imapd.conf and cyrus.conf, a
 * private sasldb, a self-signed certificate, implicit TLS and STARTTLS listeners. Fails loudly when it cannot.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSelfSigned } from './certificates.ts';
import { appendSeed, loopbackAccount, type TestImapServer } from './imap-server.ts';
import { freePort, waitForPort } from './ports.ts';

/** Where `.ci/install-imap-servers` unpacks Cyrus and Courier. */
export const TEST_SERVERS = process.env.MAILSIFT_TEST_SERVERS ?? '/opt/mailsift-test-servers';

/** Cyrus switches to this user (`cyrus_user`); there is no cyrus user outside its package. */
const MAIL_UID = 8;
const MAIL_GID = 8;

export interface CyrusOptions {
  /**
   * `inbox-dot`: Debian's imapd.conf (`altnamespace: no`, `unixhierarchysep: no`): personal namespace `INBOX.`
   * with `.`, so `Finance/Invoices` is `INBOX.Finance.Invoices`. `alt-slash`: Cyrus 3's own defaults
   * (`altnamespace: yes`, `unixhierarchysep: yes`): no prefix, `/`.
   */
  readonly namespace: 'inbox-dot' | 'alt-slash';
}

export function serverMissing(what: string): Error {
  return new Error(
    `${what} is not unpacked in ${TEST_SERVERS}; the server tests need it: bash .ci/install-imap-servers`,
  );
}

function writeConfig(dir: string, options: CyrusOptions, ports: { imap: number; imaps: number }): string {
  const { certFile, keyFile } = makeSelfSigned(dir);
  const alt = options.namespace === 'alt-slash' ? 'yes' : 'no';
  const config = join(dir, 'imapd.conf');
  writeFileSync(
    config,
    `configdirectory: ${dir}/config
proc_path: ${dir}/run/proc
mboxname_lockpath: ${dir}/run/lock
defaultpartition: default
partition-default: ${dir}/spool
altnamespace: ${alt}
unixhierarchysep: ${alt}
autocreate_quota: 0
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: ${dir}/sasldb2
sasl_mech_list: PLAIN LOGIN
cyrus_user: mail
tls_server_cert: ${certFile}
tls_server_key: ${keyFile}
lmtpsocket: ${dir}/run/socket/lmtp
idlesocket: ${dir}/run/socket/idle
notifysocket: ${dir}/run/socket/notify
syslog_prefix: mailsift-test-cyrus
`,
  );
  const bin = join(TEST_SERVERS, 'root/usr/lib/cyrus/bin');
  writeFileSync(
    join(dir, 'cyrus.conf'),
    `START {
  recover cmd="${bin}/ctl_cyrusdb -C ${config} -r"
}
SERVICES {
  imap cmd="${bin}/imapd -C ${config}" listen="127.0.0.1:${ports.imap}" prefork=0
  imaps cmd="${bin}/imapd -s -C ${config}" listen="127.0.0.1:${ports.imaps}" prefork=0
}
EVENTS {
}
`,
  );
  return config;
}

function chownTree(path: string): void {
  execFileSync('chown', ['-R', `${MAIL_UID}:${MAIL_GID}`, path]);
}

/** Starts Cyrus's master in the foreground; its log is `master.log` in the instance directory. */
export async function startCyrus(options: CyrusOptions): Promise<TestImapServer> {
  const master = join(TEST_SERVERS, 'root/usr/lib/cyrus/bin/master');
  if (!existsSync(master)) throw serverMissing('Cyrus IMAP');
  const dir = mkdtempSync(join(tmpdir(), 'mailsift-cyrus-'));
  for (const sub of ['config', 'spool', 'run/proc', 'run/lock', 'run/socket'])
    mkdirSync(join(dir, sub), { recursive: true });
  const ports = { imap: await freePort(), imaps: await freePort() };
  const config = writeConfig(dir, options, ports);
  chownTree(dir);
  const log = openSync(join(dir, 'master.log'), 'w');
  let child: ChildProcess;
  try {
    child = spawn(master, ['-C', config, '-M', join(dir, 'cyrus.conf'), '-p', join(dir, 'run/master.pid')], {
      stdio: ['ignore', log, log],
      env: { ...process.env, LD_LIBRARY_PATH: join(TEST_SERVERS, 'root/usr/lib/x86_64-linux-gnu') },
    });
  } finally {
    closeSync(log);
  }
  try {
    await waitForPort(ports.imaps, 10_000, 'Cyrus');
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(
      `Cyrus failed to start: ${(error as Error).message}\n${readFileSync(join(dir, 'master.log'), 'utf8')}`,
    );
  }
  const certificateFile = join(dir, 'cert.pem');
  const certificate = readFileSync(certificateFile, 'utf8');
  const instance = randomBytes(3).toString('hex');
  let userCounter = 0;
  const server: TestImapServer = {
    name: `Cyrus 3.6 (${options.namespace === 'inbox-dot' ? 'INBOX. and .' : 'altnamespace, /'})`,
    dir,
    imapsPort: ports.imaps,
    imapPort: ports.imap,
    certificate,
    certificateFile,
    keyFile: join(dir, 'key.pem'),
    addUser(password = 'secret') {
      userCounter += 1;
      const user = `user${userCounter}-${instance}`;
      // The INBOX is created at the first login (autocreate_quota), as on a provider's server.
      execFileSync('saslpasswd2', ['-p', '-c', '-f', join(dir, 'sasldb2'), user], { input: password });
      chownSync(join(dir, 'sasldb2'), MAIL_UID, MAIL_GID);
      return user;
    },
    account: (user, overrides = {}) => loopbackAccount(ports.imaps, certificate, user, overrides),
    seed: (user, mailbox, messages) => appendSeed(server, user, mailbox, messages),
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await Promise.race([once(child, 'exit'), new Promise((resolve) => setTimeout(resolve, 5_000))]);
        child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
