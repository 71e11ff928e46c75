/**
 * The user database an image needs, written declaratively instead of by base-passwd's and adduser's maintainer
 * scripts: /etc/passwd, /etc/group, /etc/nsswitch.conf, home directories and /tmp. The defaults are distroless's
 * (root, nobody/nogroup, nonroot 65532), so images behave like the ones people already run.
 */
import { BUILTIN_GROUPS, BUILTIN_USERS, NONROOT } from '../config/accounts.ts';
import type { Spec } from '../config/spec.ts';
import { PithError } from '../errors.ts';
import type { FsEntry } from '../fs/entry.ts';
import type { FsTree } from '../fs/tree.ts';
import { compareStrings } from '../order.ts';

export interface AccountsResult {
  /** Numeric "uid:gid" of `run-as`, for the image config's `User` (numeric, so runtimes need no lookup). */
  user: string;
  /** One line per decision: entries kept from a package, accounts added, directories made. */
  report: string[];
}

interface User {
  name: string;
  uid: number;
  gid: number;
  password: string;
  gecos: string;
  home: string;
  shell: string;
  /** Where the entry came from, for error messages: "pith default", "spec accounts.users[2]", "/etc/passwd:3". */
  from: string;
  /** The verbatim line when a package shipped it: package data is kept as shipped. */
  line?: string;
}

interface Group {
  name: string;
  gid: number;
  from: string;
  line?: string;
}

/** No shell is in the image; a login attempt should fail rather than exec something a package happened to leave. */
const NOLOGIN = '/sbin/nologin';

// What distroless ships: every database from files only, hosts also through DNS (there is no resolver daemon).
const NSSWITCH = `# Written by pith: the image has only files-based databases (no NIS, LDAP or systemd resolvers).
passwd:         files
group:          files
shadow:         files
gshadow:        files

hosts:          files dns
networks:       files

protocols:      files
services:       files
ethers:         files
rpc:            files

netgroup:       files
`;

const DEFAULT_USERS: User[] = BUILTIN_USERS.map((u) => ({ ...u, password: 'x', gecos: u.name, shell: NOLOGIN, from: 'pith default' }));
const DEFAULT_GROUPS: Group[] = BUILTIN_GROUPS.map((g) => ({ ...g, from: 'pith default' }));

/**
 * A package's own database: /etc/passwd if one shipped it, else base-passwd's master copies (which its postinst
 * would have copied to /etc). Their entries are kept verbatim.
 */
const SHIPPED = {
  passwd: ['/etc/passwd', '/usr/share/base-passwd/passwd.master'],
  group: ['/etc/group', '/usr/share/base-passwd/group.master'],
};

function readShipped(tree: FsTree, candidates: string[]): { path: string; lines: Array<{ line: string; no: number }> } | undefined {
  for (const path of candidates) {
    const bytes = tree.readFile(path);
    if (bytes === undefined) continue;
    const lines = Buffer.from(bytes)
      .toString('utf8')
      .split('\n')
      .map((line, i) => ({ line, no: i + 1 }))
      .filter(({ line }) => line.trim() !== '' && !line.startsWith('#'));
    return { path, lines };
  }
  return undefined;
}

function parseId(field: string | undefined, what: string, where: string): number {
  if (field === undefined || !/^\d+$/.test(field)) {
    throw new PithError('ACCOUNTS_INVALID', `${where}: expected a numeric ${what}, found ${JSON.stringify(field ?? '')}`, { details: { where } });
  }
  return Number(field);
}

/** Each line of a shipped /etc/passwd or /etc/group split into its fields, named by file:line and package. */
function* shippedRecords(tree: FsTree, shipped: NonNullable<ReturnType<typeof readShipped>>, fields: number, kind: 'passwd' | 'group'): Generator<{ f: string[]; where: string; line: string }> {
  for (const { line, no } of shipped.lines) {
    const where = `${shipped.path}:${no} (package ${tree.owner(shipped.path) ?? 'unknown'})`;
    const f = line.split(':');
    if (f.length !== fields) {
      throw new PithError('ACCOUNTS_INVALID', `${where}: expected ${fields} colon-separated ${kind} fields, found ${f.length}: ${JSON.stringify(line)}`, { details: { where } });
    }
    yield { f, where, line };
  }
}

/** What tells users and groups apart where both are checked the same way: the id field and the words for it. */
interface AccountKind<T> {
  noun: 'user' | 'group';
  idName: 'uid' | 'gid';
  id: (a: T) => number;
}
const USER: AccountKind<User> = { noun: 'user', idName: 'uid', id: (u) => u.uid };
const GROUP: AccountKind<Group> = { noun: 'group', idName: 'gid', id: (g) => g.gid };

function describe<T extends User | Group>(kind: AccountKind<T>, a: T): string {
  return `${kind.noun} ${a.name} (${kind.idName} ${kind.id(a)}) from ${a.from}`;
}

/**
 * Adds `a` unless an identical account is there. The same name with another id, or the same id under another
 * name, is an error naming both: two names for one uid make file ownership ambiguous for every tool that maps back.
 */
function addAccount<T extends User | Group>(kind: AccountKind<T>, list: T[], a: T, sameIsFine: boolean): boolean {
  if (!checkAccount(kind, list, a, sameIsFine)) return false;
  list.push(a);
  return true;
}

/** False when an identical account is already there (and that is fine); throws on a clash; true when new. */
function checkAccount<T extends User | Group>(kind: AccountKind<T>, list: T[], a: T, sameIsFine: boolean): boolean {
  const byName = list.find((x) => x.name === a.name);
  const byId = list.find((x) => kind.id(x) === kind.id(a));
  if (byName !== undefined && byName === byId && sameIsFine) return false;
  const clash = byName ?? byId;
  if (clash !== undefined) {
    const otherId = kind.idName === 'uid' ? 'otherUid' : 'otherGid';
    throw new PithError('ACCOUNTS_DUPLICATE', `expected unique ${kind.noun} names and ${kind.idName}s, found ${describe(kind, a)} clashing with ${describe(kind, clash)}`, {
      details: { name: a.name, [kind.idName]: kind.id(a), other: clash.name, [otherId]: kind.id(clash) },
    });
  }
  return true;
}

/**
 * Puts a directory at `path` with exactly this mode and owner. The tree merges a directory added over another
 * (first one wins), so an existing one is taken out with what it holds and put back around the new entry.
 */
function putDir(tree: FsTree, path: string, mode: number, uid: number, gid: number, mtime: number): 'created' | 'fixed' | 'kept' {
  const existing = tree.get(path);
  if (existing === undefined) {
    tree.add({ type: 'dir', path, mode, uid, gid, mtime });
    return 'created';
  }
  if (existing.type !== 'dir') {
    throw new PithError('PATH_CONFLICT', `${path}: expected a directory for the image's accounts, found a ${existing.type} from ${tree.owner(path) ?? 'pith'}`, {
      details: { path, owner: tree.owner(path) },
    });
  }
  if (existing.mode === mode && existing.uid === uid && existing.gid === gid) return 'kept';
  const prefix = existing.path + '/';
  const below = tree.entries().filter((e) => e.path.startsWith(prefix));
  const owners = new Map(below.map((e) => [e.path, tree.owners(e.path)]));
  const dirOwners = tree.owners(existing.path);
  tree.remove(existing.path);
  const readd = (e: FsEntry, who: string[]) => {
    if (who.length === 0) tree.add(e);
    for (const o of who) tree.add(e, o);
  };
  readd({ ...existing, mode, uid, gid }, dirOwners);
  // Files before hardlinks to them: entries() is sorted by path, which does not guarantee it.
  for (const e of below.filter((x) => x.type !== 'hardlink')) readd(e, owners.get(e.path)!);
  for (const e of below.filter((x) => x.type === 'hardlink')) readd(e, owners.get(e.path)!);
  return 'fixed';
}

function writeFile(tree: FsTree, path: string, text: string, mtime: number): void {
  const existing = tree.get(path);
  // A package's /etc/passwd has been merged in above; ours replaces it as the one file the image has.
  if (existing !== undefined) tree.remove(path);
  tree.add({ type: 'file', path, mode: 0o644, uid: 0, gid: 0, mtime, content: new Uint8Array(Buffer.from(text, 'utf8')) });
}

const byId = <T extends { uid?: number; gid: number; name: string }>(key: 'uid' | 'gid') => (a: T, b: T) =>
  (a[key] ?? 0) - (b[key] ?? 0) || compareStrings(a.name, b.name);

export function applyAccounts(tree: FsTree, accounts: Spec['accounts'], options: { sourceDateEpoch: number }): AccountsResult {
  const mtime = options.sourceDateEpoch;
  const report: string[] = [];
  const users: User[] = [];
  const groups: Group[] = [];

  const shippedPasswd = readShipped(tree, SHIPPED.passwd);
  if (shippedPasswd !== undefined) {
    for (const { f, where, line } of shippedRecords(tree, shippedPasswd, 7, 'passwd')) {
      // A shell that is not in the image (base-passwd's root has /bin/bash) becomes nologin: pointing at a missing
      // program only turns "no login" into a confusing exec error.
      const present = tree.resolve(f[6]!)?.type;
      const shell = present === 'file' || present === 'hardlink' ? f[6]! : NOLOGIN;
      addAccount(USER, users, {
        name: f[0]!, uid: parseId(f[2], 'uid', where), gid: parseId(f[3], 'gid', where), password: f[1]!, gecos: f[4]!, home: f[5]!, shell, from: where, line,
      }, false);
    }
    report.push(`kept ${shippedPasswd.lines.length} users from ${shippedPasswd.path} (package ${tree.owner(shippedPasswd.path) ?? 'unknown'})`);
  }
  const shippedGroup = readShipped(tree, SHIPPED.group);
  if (shippedGroup !== undefined) {
    for (const { f, where, line } of shippedRecords(tree, shippedGroup, 4, 'group')) {
      addAccount(GROUP, groups, { name: f[0]!, gid: parseId(f[2], 'gid', where), from: where, line }, false);
    }
    report.push(`kept ${shippedGroup.lines.length} groups from ${shippedGroup.path} (package ${tree.owner(shippedGroup.path) ?? 'unknown'})`);
  }

  // Defaults go in only where a package did not already define that name and id; one that clashes half-way
  // (base-passwd's nobody with another uid, say) is a real conflict and reported as such.
  for (const g of DEFAULT_GROUPS) {
    const clash = groups.find((x) => x.name === g.name || x.gid === g.gid);
    if (clash === undefined) groups.push(g);
    else if (clash.name !== g.name || clash.gid !== g.gid) addAccount(GROUP, groups, g, true);
  }
  for (const u of DEFAULT_USERS) {
    const clash = users.find((x) => x.name === u.name || x.uid === u.uid);
    if (clash === undefined) users.push(u);
    else if (clash.name !== u.name || clash.uid !== u.uid) addAccount(USER, users, u, true);
  }

  const specGroups = (accounts?.groups ?? []).map((g, i): Group => ({ name: g.name, gid: g.gid, from: `spec accounts.groups[${i}]` }));
  specGroups.forEach((g, i) => checkAccount(GROUP, specGroups.slice(0, i), g, false));
  for (const g of specGroups) if (addAccount(GROUP, groups, g, true)) report.push(`added group ${g.name} (gid ${g.gid})`);

  const specUsers = accounts?.users ?? [];
  const declared = specUsers.map((u, i): User => {
    const gid = u.gid ?? u.uid;
    return { name: u.name, uid: u.uid, gid, password: 'x', gecos: u.name, home: u.home ?? `/home/${u.name}`, shell: u.shell ?? NOLOGIN, from: `spec accounts.users[${i}]` };
  });
  declared.forEach((user, i) => checkAccount(USER, declared.slice(0, i), user, false));
  specUsers.forEach((u, i) => {
    const user = declared[i]!;
    const { gid, from } = user;
    checkAccount(USER, users, user, true);
    // As adduser's USERGROUPS: a user whose primary group does not exist gets one of its own name.
    if (!groups.some((g) => g.gid === gid)) {
      addAccount(GROUP, groups, { name: u.name, gid, from: `${from} (its own group)` }, true);
      report.push(`added group ${u.name} (gid ${gid}) as the primary group of user ${u.name}`);
    }
    const existing = users.find((x) => x.name === u.name && x.uid === u.uid);
    // Re-declaring a default (nonroot 65532, say) is fine as long as it says the same thing.
    if (existing !== undefined && (existing.gid !== user.gid || existing.home !== user.home || (u.shell !== undefined && existing.shell !== u.shell))) {
      throw new PithError('ACCOUNTS_DUPLICATE', `expected ${from} to match ${describe(USER, existing)} (gid ${existing.gid}, home ${existing.home}), found gid ${user.gid}, home ${user.home}`, {
        details: { name: u.name, uid: u.uid },
      });
    }
    if (addAccount(USER, users, user, true)) report.push(`added user ${u.name} (uid ${u.uid}, gid ${gid}, home ${user.home})`);
  });

  const runAs = accounts?.['run-as'] ?? NONROOT.name;
  const runAsUser =
    typeof runAs === 'number' || /^\d+$/.test(runAs) ? users.find((u) => u.uid === Number(runAs)) : users.find((u) => u.name === runAs);
  if (runAsUser === undefined) {
    throw new PithError('ACCOUNTS_RUN_AS', `accounts.run-as: expected a user the image defines (${users.map((u) => u.name).sort().join(', ')}), found ${JSON.stringify(runAs)}`, {
      details: { runAs },
    });
  }

  users.sort(byId('uid'));
  groups.sort(byId('gid'));
  const passwd = users.map((u) => `${u.name}:${u.password}:${u.uid}:${u.gid}:${u.gecos}:${u.home}:${u.shell}`).join('\n') + '\n';
  const group = groups.map((g) => g.line ?? `${g.name}:x:${g.gid}:`).join('\n') + '\n';
  writeFile(tree, '/etc/passwd', passwd, mtime);
  writeFile(tree, '/etc/group', group, mtime);
  writeFile(tree, '/etc/nsswitch.conf', NSSWITCH, mtime);

  // Homes only for accounts pith defines: base-passwd's homes are system paths like /bin and /usr/sbin.
  for (const u of users) {
    if (u.line !== undefined && u.name !== 'root') continue;
    if (u.home === '/nonexistent' || u.home === '/' || u.home === '') continue;
    const r = putDir(tree, u.home, 0o700, u.uid, u.gid, mtime);
    if (r === 'created') report.push(`created home ${u.home} (0700, ${u.uid}:${u.gid})`);
    else if (r === 'fixed') report.push(`set home ${u.home} to 0700, ${u.uid}:${u.gid}`);
  }
  if (putDir(tree, '/tmp', 0o1777, 0, 0, mtime) === 'fixed') report.push('set /tmp to 1777');

  return { user: `${runAsUser.uid}:${runAsUser.gid}`, report };
}
