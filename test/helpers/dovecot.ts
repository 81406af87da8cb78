/**
 * Starts a real, throwaway Dovecot on 127.0.0.1 for one test file: private config, self-signed certificate,
 * implicit TLS and STARTTLS listeners on free high ports. Fails loudly when Dovecot cannot start.
 */
import { execFile as execFileCallback, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ImapAccount } from '../../functions/imap/session.ts';
import { makeSelfSigned } from './certificates.ts';
import { freePort, waitForPort } from './ports.ts';

const execFile = promisify(execFileCallback);

/** Dovecot 2.3's post-login capabilities; a test can take some away to act like an older server. */
const DEFAULT_CAPABILITIES =
  'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS ' +
  'THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED ' +
  'I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE ' +
  'SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE';

/** The `mail` system user owns the mail store: Dovecot refuses to serve mail as root. */
const MAIL_UID = 8;
const MAIL_GID = 8;

export interface DovecotOptions {
  /** Capabilities removed from what Dovecot advertises after login (e.g. MOVE, UIDPLUS, WITHIN). */
  readonly withoutCapabilities?: readonly string[];
  /** Whether the Trash mailbox carries SPECIAL-USE \Trash (default true). */
  readonly specialUseTrash?: boolean;
  /** Longest command line Dovecot accepts (`imap_max_line_length`; Dovecot's default is 64k). */
  readonly maxLineLength?: string;
  /**
   * The personal namespace as Courier (and Cyrus by default) have it: prefix `INBOX.`, delimiter `.`, so that
   * `Finance/Invoices` is `INBOX.Finance.Invoices` on the wire (default: no prefix, delimiter `/`).
   */
  readonly courierNamespace?: boolean;
  /**
   * OAuth2 sign-in (SASL XOAUTH2 and OAUTHBEARER), tokens checked at `introspectionUrl` (RFC 7662, POST).
   * `only`: no password mechanisms at all, as Exchange Online (XOAUTH2 alone).
   */
  readonly oauth2?: { readonly introspectionUrl: string; readonly only?: boolean };
}

export interface SeedMessage {
  readonly raw: string | Buffer;
  /** Maildir flag letters: S seen, F flagged, R answered, D draft, T deleted. */
  readonly flags?: string;
  /** INTERNALDATE; Dovecot's maildir takes it from the file's mtime. */
  readonly internalDate?: Date;
}

export interface MessageState {
  readonly uid: number;
  readonly flags: readonly string[];
  readonly messageId: string;
}

export interface TestDovecot {
  readonly dir: string;
  readonly configFile: string;
  readonly imapsPort: number;
  readonly imapPort: number;
  /** PEM of the self-signed server certificate (CN localhost, SAN localhost and 127.0.0.1). */
  readonly certificate: string;
  readonly certificateFile: string;
  readonly keyFile: string;
  /** A fresh user with an empty mailbox; returns its name. */
  addUser(password?: string): string;
  /** Account settings for a user, trusting the test certificate, over implicit TLS unless overridden. */
  account(user: string, overrides?: Partial<ImapAccount>): ImapAccount;
  /** Writes messages straight into a user's maildir (fast, and sets INTERNALDATE exactly). */
  seed(user: string, mailbox: string, messages: readonly SeedMessage[]): void;
  /** Runs `doveadm -c <config> …` and returns its output. */
  doveadm(...args: string[]): Promise<string>;
  /** Every message of every mailbox of `user`, by mailbox, UIDs ascending. */
  mailboxState(user: string): Promise<Map<string, MessageState[]>>;
  /**
   * Copies a user's whole Maildir, indexes included, as a nightly backup would; `restore` puts it back. The
   * restored mailboxes keep their UIDVALIDITY while UIDNEXT and HIGHESTMODSEQ go back to the snapshot's.
   * No client may hold a mailbox of the user open across a restore (Dovecot would see its files vanish).
   */
  snapshot(user: string): { restore(): void };
  stop(): Promise<void>;
}

let seedCounter = 0;

/** The auth settings and oauth2 passdb for `options.oauth2` (empty without it); the passdb's file is written too. */
function oauth2Config(dir: string, options: DovecotOptions): string {
  if (!options.oauth2) return '';
  const file = join(dir, 'oauth2.conf');
  writeFileSync(
    file,
    `introspection_mode = post\nintrospection_url = ${options.oauth2.introspectionUrl}\n` +
      'username_attribute = username\nactive_attribute = active\nactive_value = true\n',
  );
  const mechanisms = options.oauth2.only ? 'xoauth2' : 'plain login xoauth2 oauthbearer';
  return `auth_mechanisms = ${mechanisms}\npassdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = ${file}\n}\n`;
}

/** Starts Dovecot. @throws with the reason and the fix when it cannot (never skips). */
export async function startDovecot(options: DovecotOptions = {}): Promise<TestDovecot> {
  try {
    execFileSync('dovecot', ['--version'], { stdio: 'pipe' });
  } catch {
    throw new Error('Dovecot is not installed; the IMAP tests need it: apt-get install -y dovecot-imapd');
  }
  const dir = mkdtempSync(join(tmpdir(), 'mailsift-dovecot-'));
  // Dovecot's unprivileged processes (mail, dovecot, dovenull) must traverse the directory.
  chmodSync(dir, 0o755);
  for (const sub of ['run', 'state', 'home']) mkdirSync(join(dir, sub), { mode: 0o755 });
  chownSync(join(dir, 'home'), MAIL_UID, MAIL_GID);
  const { certFile, keyFile } = makeSelfSigned(dir);
  // One passwd-file per user: Dovecot re-reads a changed passwd-file at most once a second, so users
  // added to one shared file within a second could be "unknown" to it.
  const usersDir = join(dir, 'users');
  mkdirSync(usersDir, { mode: 0o755 });
  const [imapsPort, imapPort] = [await freePort(), await freePort()];
  const capabilities = DEFAULT_CAPABILITIES.split(' ')
    .filter((cap) => !(options.withoutCapabilities ?? []).includes(cap))
    .join(' ');
  const trashSpecialUse = options.specialUseTrash === false ? '' : '    special_use = \\Trash\n';
  const configFile = join(dir, 'dovecot.conf');
  writeFileSync(
    configFile,
    `base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
protocols = imap
listen = 127.0.0.1, 127.0.0.2
ssl = yes
ssl_cert = <${certFile}
ssl_key = <${keyFile}
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 0
mail_location = maildir:~/Maildir
imap_capability = ${capabilities}
${options.maxLineLength ? `imap_max_line_length = ${options.maxLineLength}\n` : ''}${oauth2Config(dir, options)}passdb {
  driver = passwd-file
  args = ${usersDir}/%u
}
userdb {
  driver = passwd-file
  args = ${usersDir}/%u
}
service imap-login {
  chroot =
  inet_listener imap {
    port = ${imapPort}
  }
  inet_listener imaps {
    port = ${imapsPort}
    ssl = yes
  }
}
service anvil {
  chroot =
}
namespace inbox {
  inbox = yes
${options.courierNamespace ? '  prefix = INBOX.\n  separator = .\n' : '  separator = /\n'}  mailbox Trash {
${trashSpecialUse}  }
}
`,
  );
  try {
    // Dovecot daemonizes; its output goes to a file, since an inherited pipe would stay open in the daemon.
    const startLog = openSync(join(dir, 'start.log'), 'w');
    try {
      execFileSync('dovecot', ['-c', configFile], { stdio: ['ignore', startLog, startLog], timeout: 10_000 });
    } finally {
      closeSync(startLog);
    }
    await waitForPort(imapsPort, 10_000, 'Dovecot');
  } catch (error) {
    let log = '';
    try {
      log = readFileSync(join(dir, 'start.log'), 'utf8') + readFileSync(join(dir, 'dovecot.log'), 'utf8');
    } catch {}
    throw new Error(`Dovecot failed to start: ${(error as Error).message}\n${log}`);
  }
  const certificate = readFileSync(certFile, 'utf8');
  let userCounter = 0;
  // Names unique across servers too: mailsift keys its state by user and host, and every server is 127.0.0.1.
  const instance = randomBytes(3).toString('hex');

  // The state of 50,000 messages is several MB: past execFile's default 1 MB output limit.
  const doveadm = async (...args: string[]) =>
    (await execFile('doveadm', ['-c', configFile, ...args], { maxBuffer: 512 * 1024 * 1024 })).stdout;
  const homeOf = (user: string) => join(dir, 'home', user);
  const maildirOf = (user: string, mailbox: string) =>
    mailbox.toUpperCase() === 'INBOX'
      ? join(homeOf(user), 'Maildir')
      : join(homeOf(user), 'Maildir', `.${mailbox.replaceAll('/', '.')}`);

  return {
    dir,
    configFile,
    imapsPort,
    imapPort,
    certificate,
    certificateFile: certFile,
    keyFile,
    addUser(password = 'secret') {
      userCounter += 1;
      const user = `user${userCounter}-${instance}`;
      mkdirSync(homeOf(user), { recursive: true });
      chownSync(homeOf(user), MAIL_UID, MAIL_GID);
      writeFileSync(
        join(usersDir, user),
        `${user}:{PLAIN}${password}:${MAIL_UID}:${MAIL_GID}::${homeOf(user)}\n`,
      );
      return user;
    },
    account(user, overrides = {}) {
      return {
        host: '127.0.0.1',
        port: imapsPort,
        tls: 'implicit',
        user,
        password: 'secret',
        ca: certificate,
        ...overrides,
      };
    },
    seed(user, mailbox, messages) {
      const base = maildirOf(user, mailbox);
      for (const sub of ['', 'cur', 'new', 'tmp']) {
        mkdirSync(join(base, sub), { recursive: true });
        chownSync(join(base, sub), MAIL_UID, MAIL_GID);
      }
      if (mailbox.toUpperCase() !== 'INBOX') {
        // Maildir++ marks a folder with this file; subscriptions do not matter for SELECT.
        writeFileSync(join(base, 'maildirfolder'), '');
      }
      for (const message of messages) {
        seedCounter += 1;
        // Zero-padded sequence keeps Dovecot's UID order equal to the seeding order.
        const name = `${String(seedCounter).padStart(9, '0')}.M${seedCounter}P${process.pid}.test:2,${[...(message.flags ?? '')].sort().join('')}`;
        const file = join(base, 'cur', name);
        writeFileSync(file, message.raw);
        chownSync(file, MAIL_UID, MAIL_GID);
        if (message.internalDate) utimesSync(file, message.internalDate, message.internalDate);
      }
    },
    doveadm,
    snapshot(user) {
      seedCounter += 1;
      const copy = join(dir, 'snapshots', `${user}-${seedCounter}`);
      mkdirSync(join(dir, 'snapshots'), { recursive: true });
      // A live mailbox's backup holds its uidlist and indexes: mail seeded straight into the maildir has none yet,
      // and without them the restored mailbox would get a new UIDVALIDITY (or, within the same second, the same
      // one by chance). STATUS of every mailbox makes Dovecot write them first.
      execFileSync('doveadm', ['-c', configFile, 'mailbox', 'status', '-u', user, 'uidvalidity', '*']);
      // cp -a keeps owners, modes and mtimes (INTERNALDATE on maildir), as a restore from backup does.
      execFileSync('cp', ['-a', join(homeOf(user), 'Maildir'), copy]);
      return {
        restore() {
          rmSync(join(homeOf(user), 'Maildir'), { recursive: true, force: true });
          execFileSync('cp', ['-a', copy, join(homeOf(user), 'Maildir')]);
        },
      };
    },
    async mailboxState(user) {
      const output = await doveadm('fetch', '-u', user, 'mailbox uid flags hdr.message-id', 'all');
      const state = new Map<string, MessageState[]>();
      for (const record of output
        .split('\f')
        .map((part) => part.trim())
        .filter(Boolean)) {
        const field = (name: string) => new RegExp(`^${name}: ?(.*)$`, 'm').exec(record)?.[1]?.trim() ?? '';
        const mailbox = field('mailbox');
        const list = state.get(mailbox) ?? [];
        list.push({
          uid: Number(field('uid')),
          flags: field('flags').split(' ').filter(Boolean).sort(),
          messageId: field('hdr.message-id'),
        });
        state.set(mailbox, list);
      }
      for (const list of state.values()) list.sort((a, b) => a.uid - b.uid);
      return state;
    },
    async stop() {
      try {
        await doveadm('stop');
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
