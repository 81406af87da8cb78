/**
 * Starts a real, throwaway Courier-IMAP 5 on 127.0.0.1 for one test file, from Debian's packages unpacked by
 * `.ci/install-imap-servers`. Courier's authlib has its paths built in (`/etc/courier`, `/run/courier`,
 * `/usr/lib/courier-authlib`), so the servers run in a private mount namespace (`unshare -m`) where overlays
 * supply them: nothing on the host changes. Users are in a private userdb; `couriertls` (implicit TLS and
 * STARTTLS) runs as a `courier` user that only that namespace's /etc/passwd has. Fails loudly when it cannot.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSelfSigned } from './certificates.ts';
import { serverMissing, TEST_SERVERS } from './cyrus.ts';
import { appendSeed, loopbackAccount, type TestImapServer } from './imap-server.ts';
import { freePort, waitForPort } from './ports.ts';

const MAIL_UID = 8;
const MAIL_GID = 8;
/** The `courier` user couriertls switches to, in the namespace's /etc/passwd only. */
const COURIER_UID = 64011;

/** Debian's /etc/courier/imapd and imapd-ssl, as environment (what its init script sources), Trash kept. */
const IMAPD_ENVIRONMENT = [
  'IMAP_CAPABILITY=IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE',
  'IMAP_CAPABILITY_TLS=IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE AUTH=PLAIN',
  'IMAP_KEYWORDS=1',
  'IMAP_ACL=1',
  'IMAP_TRASHFOLDERNAME=Trash',
  // Debian's default (Trash:7) would delete week-old mail from Trash at every login, under the tests' feet.
  'IMAP_EMPTYTRASH=',
  'IMAP_UMASK=022',
  'IMAP_USELOCKS=1',
  'IMAP_IDLE_TIMEOUT=60',
  'IMAP_MAILBOX_SANITY_CHECK=1',
  'IMAP_STARTTLS=YES',
  'IMAP_TLS_REQUIRED=0',
  'COURIERTLS=/usr/bin/couriertls',
  'TLS_CERTFILE=/etc/courier/imapd.pem',
  'TLS_VERIFYPEER=NONE',
  'MAILDIRPATH=Maildir',
];

function startScript(dir: string, ports: { imap: number; imaps: number }): string {
  const tcpd = (port: number, tls: string) =>
    `env -i PATH=/usr/bin:/bin ${IMAPD_ENVIRONMENT.map((pair) => `'${pair}'`).join(' ')} ` +
    `/usr/sbin/couriertcpd -address=127.0.0.1 -nodnslookup -noidentlookup -maxprocs=100 -maxperip=100 ` +
    `-stderr=${dir}/imapd-${port}.log ${port} ${tls}/usr/lib/courier/courier/imaplogin /usr/bin/imapd Maildir ` +
    `>> ${dir}/tcpd.log 2>&1 &`;
  return `set -e
mount -t overlay overlay -o lowerdir=${dir}/etc-lower:/etc,upperdir=${dir}/etc-upper,workdir=${dir}/etc-work /etc
mkdir -p /etc/courier
mount --bind ${dir}/courier-etc /etc/courier
mount -t overlay overlay -o lowerdir=${TEST_SERVERS}/root/usr:/usr /usr
mount -t overlay overlay -o lowerdir=/run,upperdir=${dir}/run-upper,workdir=${dir}/run-work /run
mkdir -p /run/courier/authdaemon
/usr/sbin/makeuserdb
/usr/lib/courier/courier-authlib/authdaemond >> ${dir}/authdaemond.log 2>&1 &
echo $! > ${dir}/authdaemond.pid
${tcpd(ports.imap, '')}
${tcpd(ports.imaps, '/usr/bin/couriertls -server -tcpd ')}
`;
}

function prepare(dir: string): void {
  for (const sub of ['etc-lower', 'etc-upper', 'etc-work', 'run-upper', 'run-work', 'courier-etc', 'home'])
    mkdirSync(join(dir, sub));
  const passwd = readFileSync('/etc/passwd', 'utf8');
  const group = readFileSync('/etc/group', 'utf8');
  writeFileSync(
    join(dir, 'etc-lower/passwd'),
    /^courier:/m.test(passwd)
      ? passwd
      : `${passwd}courier:x:${COURIER_UID}:${MAIL_GID}::/nonexistent:/usr/sbin/nologin\n`,
  );
  writeFileSync(join(dir, 'etc-lower/group'), group);
  writeFileSync(
    join(dir, 'courier-etc/authdaemonrc'),
    'authmodulelist="authuserdb"\ndaemons=3\nauthdaemonvar=/run/courier/authdaemon\nDEBUG_LOGIN=0\nDEFAULTOPTIONS=""\n',
  );
  writeFileSync(join(dir, 'courier-etc/userdb'), '', { mode: 0o600 });
  const { cert, key } = makeSelfSigned(dir);
  const pem = join(dir, 'courier-etc/imapd.pem');
  writeFileSync(pem, key + cert, { mode: 0o600 });
  chownSync(pem, COURIER_UID, MAIL_GID);
}

/** The processes in the mount namespace `namespace` (`mnt:[…]`, as /proc/PID/ns/mnt reads). */
function processesIn(namespace: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/ns/mnt`) === namespace;
      } catch {
        return false;
      }
    })
    .map(Number);
}

export async function startCourier(): Promise<TestImapServer> {
  if (!existsSync(join(TEST_SERVERS, 'root/usr/bin/imapd'))) throw serverMissing('Courier-IMAP');
  const dir = mkdtempSync(join(tmpdir(), 'mailsift-courier-'));
  chmodSync(dir, 0o755);
  prepare(dir);
  const ports = { imap: await freePort(), imaps: await freePort() };
  writeFileSync(join(dir, 'start.sh'), startScript(dir, ports));
  // Its own process group, so that stop() ends authdaemond, couriertcpd and every imapd they started.
  const starter = spawn('unshare', ['-m', '--propagation', 'private', 'sh', join(dir, 'start.sh')], {
    detached: true,
    stdio: 'ignore',
  });
  const group = starter.pid ?? 0;
  starter.unref();
  const logs = () =>
    ['tcpd.log', 'authdaemond.log']
      .map((file) => (existsSync(join(dir, file)) ? readFileSync(join(dir, file), 'utf8') : ''))
      .join('\n');
  try {
    await waitForPort(ports.imaps, 10_000, 'Courier-IMAP');
  } catch (error) {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {}
    throw new Error(`Courier-IMAP failed to start: ${(error as Error).message}\n${logs()}`);
  }
  const authdaemond = readFileSync(join(dir, 'authdaemond.pid'), 'utf8').trim();
  const namespace = readlinkSync(`/proc/${authdaemond}/ns/mnt`);
  const certificateFile = join(dir, 'cert.pem');
  const certificate = readFileSync(certificateFile, 'utf8');
  const instance = randomBytes(3).toString('hex');
  let userCounter = 0;
  const server: TestImapServer = {
    name: 'Courier-IMAP 5',
    dir,
    imapsPort: ports.imaps,
    imapPort: ports.imap,
    certificate,
    certificateFile,
    keyFile: join(dir, 'key.pem'),
    addUser(password = 'secret') {
      userCounter += 1;
      const user = `user${userCounter}-${instance}`;
      const home = join(dir, 'home', user);
      for (const sub of ['', 'Maildir', 'Maildir/cur', 'Maildir/new', 'Maildir/tmp']) {
        mkdirSync(join(home, sub), { recursive: true });
        chownSync(join(home, sub), MAIL_UID, MAIL_GID);
      }
      const hash = execFileSync('openssl', ['passwd', '-6', '-stdin'], {
        input: password,
        encoding: 'utf8',
      }).trim();
      const entry = `${user}\tuid=${MAIL_UID}|gid=${MAIL_GID}|home=${home}|mail=${home}/Maildir|systempw=${hash}\n`;
      writeFileSync(join(dir, 'courier-etc/userdb'), entry, { flag: 'a' });
      // makeuserdb's paths are built in too: run it inside the servers' mount namespace.
      execFileSync('nsenter', ['-t', authdaemond, '-m', '/usr/sbin/makeuserdb'], { stdio: 'pipe' });
      return user;
    },
    account: (user, overrides = {}) => loopbackAccount(ports.imaps, certificate, user, overrides),
    seed: (user, mailbox, messages) => appendSeed(server, user, mailbox, messages),
    async stop() {
      // couriertcpd makes process groups of its own: what shares the servers' mount namespace is theirs.
      for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
        for (const pid of processesIn(namespace)) {
          try {
            process.kill(pid, signal);
          } catch {}
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
