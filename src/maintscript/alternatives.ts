/**
 * What `update-alternatives` calls in postinst scripts would have set up, written declaratively: the Debian layout
 * LINK → /etc/alternatives/NAME → PATH, and the admin file /var/lib/dpkg/alternatives/NAME as dpkg's
 * update-alternatives writes it, so that the image looks exactly as if the scripts had run (and a later dpkg
 * would read it).
 *
 * The calls come from reading each postinst with the shell evaluator (./postinst.ts), as a first `postinst configure`
 * on the image tree; the calls are then applied, in configure order, by a model of update-alternatives that follows
 * dpkg's own rules: per link group the highest priority wins in auto mode and, on a tie, the choice already
 * selected stays (so the package configured first); a slave whose target is missing (a trimmed man page) is not
 * linked; a path that is not a symlink is never replaced by a link. A call the evaluator cannot follow, or one
 * update-alternatives itself would refuse, is reported, never guessed.
 */
import { posix } from 'node:path';
import type { FsEntry } from '../fs/entry.ts';
import type { FsTree } from '../fs/tree.ts';
import { parseRelations } from '../debian/relations.ts';
import { ShellError } from './ast.ts';
import { hasEffect, UNKNOWN, type CommandResult, type CommandRun } from './interpreter.ts';
import { evaluateMaintainerScript } from './postinst.ts';
import { compareStrings } from '../order.ts';
import { contentSize, readContent, type Content } from '../fs/content.ts';

export const ALTERNATIVES_DIR = '/etc/alternatives';
export const ALTERNATIVES_ADMIN_DIR = '/var/lib/dpkg/alternatives';

export interface AlternativesPackage {
  name: string;
  architecture: string;
  control: Record<string, string>;
  controlFiles: Map<string, Content>;
}

export interface LinkGroup {
  name: string;
  link: string;
  status: 'auto' | 'manual';
  /** The selected choice: what /etc/alternatives/NAME points to. */
  value: string;
  choices: Array<{ path: string; priority: number }>;
}

export interface AlternativesResult {
  /** Every link group set up, sorted by name. */
  groups: LinkGroup[];
  /** `package/postinst` → what pith wrote, for postinsts whose every effect is covered by it (see scriptReport). */
  covered: Record<string, string>;
  /** `package/postinst` → what pith wrote and what it did not, for postinsts it covers only in part. */
  notes: Record<string, string>;
}

/** Runs the alternatives part of every postinst, in configure order, on the (already trimmed) tree. */
export function applyAlternatives(tree: FsTree, packages: AlternativesPackage[], options: { architecture: string; sourceDateEpoch: number }): AlternativesResult {
  const ua = new UpdateAlternatives(tree, options.sourceDateEpoch);
  const covered: Record<string, string> = {};
  const notes: Record<string, string> = {};
  for (const pkg of configureOrder(packages)) {
    const postinst = pkg.controlFiles.get('postinst');
    if (postinst === undefined) continue;
    const bytes = readContent(postinst);
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    if (!text.includes('update-alternatives')) continue;
    const names = new Set<string>();
    const problems: string[] = [];
    const handler = (run: CommandRun): CommandResult | undefined => {
      const call = `line ${run.line}: "${condense(run.text)}"`;
      if (!run.certain) {
        if (run.args === null || !isReadOnly(run.args)) problems.push(`${call} runs only depending on ${run.why}`);
        return undefined;
      }
      if (run.args === null) {
        problems.push(`${call}: its arguments depend on ${run.why}`);
        return undefined;
      }
      try {
        const r = ua.run(run.args);
        if (r.group !== undefined) names.add(r.group);
        return r.result;
      } catch (e) {
        if (!(e instanceof UpdateAlternativesError)) throw e;
        problems.push(`${call}: update-alternatives would fail: ${e.message}`);
        return { status: 2, stdout: '' };
      }
    };
    let others: CommandRun[] = [];
    try {
      const evaluation = evaluateMaintainerScript(text, {
        package: pkg.name,
        architecture: pkg.architecture,
        nativeArchitecture: options.architecture,
        script: 'postinst',
        test: (op, path) => fileTest(tree, op, path),
        commands: { 'update-alternatives': handler },
      });
      others = evaluation.commands.filter((c) => c.name !== 'update-alternatives' && hasEffect(c));
    } catch (e) {
      if (!(e instanceof ShellError)) throw e;
      problems.push(`not understood: ${e.message}`);
    }
    const key = `${pkg.name}/postinst`;
    const wrote = names.size > 0 ? `update-alternatives links written by pith (${[...names].sort().join(', ')})` : undefined;
    if (problems.length === 0 && others.length === 0) {
      covered[key] = wrote ?? 'nothing to do on a first installation: its update-alternatives calls run only on upgrade or in other cases';
      continue;
    }
    const parts = [wrote];
    if (problems.length > 0) parts.push(`not replaced, update-alternatives: ${problems.join('; ')}`);
    if (others.length > 0) parts.push(`not replaced, other commands: ${summarise(others)}`);
    notes[key] = parts.filter((p) => p !== undefined).join('; ');
  }
  return { groups: ua.groups(), covered, notes };
}

function condense(text: string): string {
  const one = text.replace(/\\\n/g, ' ').replace(/\s+/g, ' ').trim();
  return one.length > 160 ? one.slice(0, 157) + '...' : one;
}

function summarise(runs: CommandRun[]): string {
  const shown = runs.slice(0, 6).map((r) => `line ${r.line}: ${condense(r.text)}${r.certain ? '' : ' (maybe)'}`);
  if (runs.length > shown.length) shown.push(`and ${runs.length - shown.length} more`);
  return shown.join('; ');
}

const READ_ONLY_ACTIONS = new Set(['--display', '--query', '--list', '--get-selections']);

function isReadOnly(args: string[]): boolean {
  return args.some((a) => READ_ONLY_ACTIONS.has(a));
}

/**
 * The order dpkg configures packages in, as far as it matters here: a package after what it depends on
 * (Pre-Depends and Depends, through Provides), otherwise by name; cycles are broken where they close.
 */
export function configureOrder<P extends { name: string; control: Record<string, string> }>(packages: P[]): P[] {
  const byName = new Map(packages.map((p) => [p.name, p]));
  const providers = new Map<string, string[]>();
  for (const p of packages) {
    for (const group of relations(p.control['provides'])) {
      for (const r of group) providers.set(r.name, [...(providers.get(r.name) ?? []), p.name]);
    }
  }
  const deps = (p: P): string[] => {
    const out: string[] = [];
    for (const field of ['pre-depends', 'depends']) {
      for (const group of relations(p.control[field])) {
        const hit = group.map((r) => (byName.has(r.name) ? [r.name] : (providers.get(r.name) ?? []).sort())).find((names) => names.length > 0);
        if (hit) out.push(...hit);
      }
    }
    return out;
  };
  const order: P[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (p: P) => {
    if (state.has(p.name)) return;
    state.set(p.name, 'visiting');
    for (const d of deps(p)) if (d !== p.name) visit(byName.get(d)!);
    state.set(p.name, 'done');
    order.push(p);
  };
  for (const p of [...packages].sort((a, b) => compareStrings(a.name, b.name))) visit(p);
  return order;
}

function relations(field: string | undefined) {
  if (!field) return [];
  try {
    return parseRelations(field);
  } catch {
    return [];
  }
}

/** `test`'s file operators on the image: root may read and write anything, and pith images hold no devices, FIFOs or sockets. */
export function fileTest(tree: FsTree, op: string, path: string): boolean | undefined {
  let entry: FsEntry | undefined;
  try {
    entry = tree.resolve(path, { followLast: op !== '-h' && op !== '-L' });
  } catch {
    return false; // a symlink loop: stat fails
  }
  if (entry?.type === 'hardlink') entry = tree.get(entry.target);
  const mode = entry?.type === 'file' || entry?.type === 'dir' ? entry.mode : 0;
  switch (op) {
    case '-e':
    case '-r':
    case '-w':
      return entry !== undefined;
    case '-f':
      return entry?.type === 'file';
    case '-d':
      return entry?.type === 'dir';
    case '-h':
    case '-L':
      return entry?.type === 'symlink';
    case '-x':
      return entry?.type === 'dir' || (entry?.type === 'file' && (mode & 0o111) !== 0);
    case '-s':
      return entry?.type === 'dir' || (entry?.type === 'file' && contentSize(entry.content) > 0);
    case '-u':
      return (mode & 0o4000) !== 0;
    case '-g':
      return (mode & 0o2000) !== 0;
    case '-k':
      return (mode & 0o1000) !== 0;
    case '-p':
    case '-b':
    case '-c':
    case '-S':
      return false;
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The model of update-alternatives

/** update-alternatives refused the call (it would exit 2, and the postinst with it). */
export class UpdateAlternativesError extends Error {}

interface Slave {
  name: string;
  link: string;
}

interface Choice {
  path: string;
  priority: number;
  /** Slave name → file; an empty file means this choice has no such slave. */
  slaves: Map<string, string>;
}

interface Group {
  name: string;
  link: string;
  status: 'auto' | 'manual';
  slaves: Slave[];
  choices: Choice[];
}

type Op = { kind: 'link'; path: string; target: string } | { kind: 'rm'; path: string };

/**
 * update-alternatives (dpkg 1.21) on the image tree: argument checks, link groups, auto/manual mode, the choice of
 * the best alternative, slaves, and the files it writes. Each `run` is one invocation: it either applies completely
 * or throws an UpdateAlternativesError naming what update-alternatives would have refused.
 */
export class UpdateAlternatives {
  readonly #tree: FsTree;
  readonly #mtime: number;
  /** The admin directory, as update-alternatives reads it back on each call. */
  readonly #db = new Map<string, Group>();

  constructor(tree: FsTree, mtime: number) {
    this.#tree = tree;
    this.#mtime = mtime;
  }

  groups(): LinkGroup[] {
    return [...this.#db.values()]
      .sort((a, b) => compareStrings(a.name, b.name))
      .map((g) => ({
        name: g.name,
        link: g.link,
        status: g.status,
        value: this.#current(g.name) ?? '',
        choices: g.choices.map((c) => ({ path: c.path, priority: c.priority })),
      }));
  }

  /** One invocation; `group` names the link group it changed. */
  run(args: string[]): { result: CommandResult; group?: string } {
    let action: string | undefined;
    let force = false;
    let inst: Group | undefined;
    let fileset: Choice | undefined;
    let name = '';
    let path = '';
    const setAction = (a: string) => {
      if (action !== undefined) usage(`two commands specified: --${action} and --${a}`);
      action = a;
    };
    const need = (i: number, n: number, what: string) => {
      if (args.length < i + n + 1) usage(what);
    };
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (!a.startsWith('--')) usage(`unknown argument '${a}'`);
      if (a === '--help' || a === '--version') return { result: { status: 0, stdout: UNKNOWN } };
      if (a === '--verbose' || a === '--quiet' || a === '--skip-auto') continue;
      if (a === '--force') {
        force = true;
      } else if (a === '--install') {
        setAction('install');
        need(i, 4, '--install needs <link> <name> <path> <priority>');
        const [link, n, p, prio] = args.slice(i + 1, i + 5) as [string, string, string, string];
        if (link === p) usage('<link> and <path> can\'t be the same');
        if (!/^\s*[+-]?\d+$/.test(prio)) usage('priority must be an integer');
        const priority = Number(prio);
        if (priority < -(2 ** 31) || priority > 2 ** 31 - 1) usage('priority is out of range');
        inst = { name: n, link, status: 'auto', slaves: [], choices: [] };
        fileset = { path: p, priority, slaves: new Map() };
        name = n;
        i += 4;
      } else if (a === '--remove' || a === '--set') {
        setAction(a.slice(2));
        need(i, 2, `--${a.slice(2)} needs <name> <path>`);
        name = args[i + 1]!;
        path = args[i + 2]!;
        checkName(name);
        checkPath(path);
        i += 2;
      } else if (['--display', '--query', '--auto', '--config', '--list', '--remove-all'].includes(a)) {
        setAction(a.slice(2));
        need(i, 1, `--${a.slice(2)} needs <name>`);
        name = args[i + 1]!;
        checkName(name);
        i += 1;
      } else if (a === '--all' || a === '--get-selections' || a === '--set-selections') {
        setAction(a.slice(2));
      } else if (a === '--slave') {
        if (action !== 'install' || inst === undefined || fileset === undefined) usage('--slave only allowed with --install');
        need(i, 3, '--slave needs <link> <name> <path>');
        const [link, n, p] = args.slice(i + 1, i + 4) as [string, string, string];
        if (link === p) usage('<link> and <path> can\'t be the same');
        if (n === inst.name) usage(`name ${n} is both primary and slave`);
        if (link === inst.link) usage(`link ${link} is both primary and slave`);
        if (inst.slaves.some((s) => s.name === n)) usage(`duplicate slave name ${n}`);
        if (inst.slaves.some((s) => s.link === link)) usage(`duplicate slave link ${link}`);
        inst.slaves.push({ name: n, link });
        fileset.slaves.set(n, p);
        i += 3;
      } else if (a === '--log') {
        need(i, 1, '--log needs a <file> argument');
        i += 1;
      } else if (['--altdir', '--admindir', '--root', '--instdir'].includes(a)) {
        throw new UpdateAlternativesError(`${a} moves the alternatives away from ${ALTERNATIVES_DIR} and ${ALTERNATIVES_ADMIN_DIR}, the only layout pith writes`);
      } else {
        usage(`unknown option '${a}'`);
      }
    }
    if (action === undefined) usage('need --display, --query, --list, --get-selections, --config, --set, --set-selections, --install, --remove, --all, --remove-all or --auto');
    switch (action) {
      case 'display':
      case 'query':
      case 'list':
        if (!this.#db.has(name)) throw new UpdateAlternativesError(`no alternatives for ${name}`);
        return { result: { status: 0, stdout: UNKNOWN } };
      case 'get-selections':
        return { result: { status: 0, stdout: UNKNOWN } };
      case 'config':
      case 'all':
      case 'set-selections':
        throw new UpdateAlternativesError(`--${action} asks a person (or reads standard input) to choose; pith cannot know the answer`);
      case 'install':
        this.#install(inst!, fileset!, force);
        return { result: { status: 0, stdout: '' }, group: name };
      default:
        return this.#modify(action, name, path, force);
    }
  }

  #install(inst: Group, fileset: Choice, force: boolean): void {
    this.#checkInstall(inst, fileset);
    const current = this.#current(inst.name);
    let a = this.#db.get(inst.name);
    if (a) {
      a = cloneGroup(a);
      this.#selectMode(a, current);
    }
    const ops: Op[] = [];
    if (a) this.#evolve(a, inst, current, fileset, ops);
    else a = inst;
    const i = a.choices.findIndex((c) => c.path === fileset.path);
    if (i >= 0) a.choices[i] = fileset;
    else a.choices.push(fileset);
    const next = a.status === 'auto' ? this.#best(a, current)!.path : null;
    this.#update(a, current, next, force, ops);
  }

  #modify(action: string, name: string, path: string, force: boolean): { result: CommandResult; group?: string } {
    const loaded = this.#db.get(name);
    if (!loaded) {
      if (action === 'remove') return { result: { status: 0, stdout: '' } };
      throw new UpdateAlternativesError(`no alternatives for ${name}`);
    }
    const a = cloneGroup(loaded);
    const current = this.#current(name);
    this.#selectMode(a, current);
    let next: string | null = null;
    if (action === 'remove') {
      a.choices = a.choices.filter((c) => c.path !== path);
      if (current === path) {
        a.status = 'auto';
        next = this.#best(a, current)?.path ?? null;
      }
    } else if (action === 'set') {
      if (!a.choices.some((c) => c.path === path)) throw new UpdateAlternativesError(`alternative ${path} for ${name} not registered; not setting`);
      a.status = 'manual';
      next = path;
    } else if (action === 'auto') {
      a.status = 'auto';
      next = this.#best(a, current)?.path ?? null;
    } else if (action === 'remove-all') {
      a.choices = [];
    }
    this.#update(a, current, next, force, []);
    return { result: { status: 0, stdout: '' }, group: name };
  }

  /** What /etc/alternatives/NAME points to, or null. */
  #current(name: string): string | null {
    const e = this.#lstat(`${ALTERNATIVES_DIR}/${name}`);
    return e?.type === 'symlink' ? e.target : null;
  }

  #lstat(path: string): FsEntry | undefined {
    try {
      return this.#tree.resolve(path, { followLast: false });
    } catch {
      return undefined;
    }
  }

  #exists(path: string): boolean {
    try {
      return this.#tree.resolve(path) !== undefined;
    } catch {
      return false;
    }
  }

  #classify(path: string): 'symlink' | 'missing' | 'other' {
    const e = this.#lstat(path);
    return e === undefined ? 'missing' : e.type === 'symlink' ? 'symlink' : 'other';
  }

  #checkInstall(inst: Group, fileset: Choice): void {
    checkName(inst.name);
    checkLink(inst.link);
    checkPath(fileset.path);
    const byLink = new Map<string, Group>();
    const byName = new Map<string, Group>();
    for (const g of this.#db.values()) {
      byLink.set(g.link, g);
      byName.set(g.name, g);
      for (const s of g.slaves) {
        byLink.set(s.link, g);
        byName.set(s.name, g);
      }
    }
    let found = byName.get(inst.name);
    if (found && found.name !== inst.name) throw new UpdateAlternativesError(`alternative ${inst.name} can't be master: it is a slave of ${found.name}`);
    found = byLink.get(inst.link);
    if (found && found.name !== inst.name) throw new UpdateAlternativesError(`alternative link ${inst.link} is already managed by ${found.name}`);
    if (!this.#exists(fileset.path)) throw new UpdateAlternativesError(`alternative path ${fileset.path} doesn't exist`);
    for (const s of inst.slaves) {
      checkName(s.name);
      checkLink(s.link);
      checkPath(fileset.slaves.get(s.name)!);
      found = byName.get(s.name);
      if (found && found.name !== inst.name) {
        throw new UpdateAlternativesError(
          found.name === s.name ? `alternative ${s.name} can't be slave of ${inst.name}: it is a master alternative` : `alternative ${s.name} can't be slave of ${inst.name}: it is a slave of ${found.name}`,
        );
      }
      found = byLink.get(s.link);
      if (found && found.name !== inst.name) throw new UpdateAlternativesError(`alternative link ${s.link} is already managed by ${found.name}`);
      const other = found?.slaves.find((x) => x.link === s.link);
      if (found && other && other.name !== s.name) throw new UpdateAlternativesError(`alternative link ${s.link} is already managed by ${other.name} (slave of ${found.name})`);
    }
  }

  #selectMode(a: Group, current: string | null): void {
    if (current === null) a.status = 'auto';
    else if (!a.choices.some((c) => c.path === current)) {
      if (!this.#exists(current)) a.status = 'auto';
      else a.status = 'manual';
    }
  }

  /** A new registration of an existing group may move its link and its slaves' links. */
  #evolve(a: Group, b: Group, current: string | null, fileset: Choice, ops: Op[]): void {
    if (this.#classify(a.link) === 'symlink' && a.link !== b.link) this.#move(a.link, b.link, ops);
    a.link = b.link;
    for (const s of b.slaves) {
      const old = a.slaves.find((x) => x.name === s.name);
      if (old) {
        if (old.link !== s.link && this.#classify(old.link) === 'symlink') {
          const file = current === fileset.path ? fileset.slaves.get(s.name) : this.#current(s.name);
          if (file && this.#exists(file)) this.#move(old.link, s.link, ops);
          else ops.push({ kind: 'rm', path: old.link });
        }
        old.link = s.link;
      } else {
        a.slaves.push({ ...s });
      }
    }
  }

  #move(from: string, to: string, ops: Op[]): void {
    const e = this.#lstat(from);
    if (e?.type !== 'symlink') return;
    ops.push({ kind: 'rm', path: from }, { kind: 'link', path: to, target: e.target });
  }

  /** The choice auto mode selects: the current one unless another has a strictly higher priority. */
  #best(a: Group, current: string | null): Choice | undefined {
    let best = (current !== null ? a.choices.find((c) => c.path === current) : undefined) ?? a.choices[0];
    for (const c of a.choices) if (best && c.priority > best.priority) best = c;
    return best;
  }

  #update(a: Group, current: string | null, next: string | null, force: boolean, ops: Op[]): void {
    if (a.choices.length === 0) {
      this.#removeFiles(a, force, ops);
      this.#commit(ops);
      this.#db.delete(a.name);
      this.#remove(`${ALTERNATIVES_ADMIN_DIR}/${a.name}`);
      return;
    }
    if (next !== null && next !== current) this.#prepareInstall(a, next, force, ops);
    else if (current !== null && a.choices.some((c) => c.path === current)) this.#prepareInstall(a, current, force, ops); // repairs, as update-alternatives does
    // Slaves no choice provides any more are dropped from the group.
    a.slaves = a.slaves.filter((s) => a.choices.some((c) => (c.slaves.get(s.name) ?? '') !== ''));
    a.slaves.sort((x, y) => compareStrings(x.name, y.name));
    a.choices.sort((x, y) => compareStrings(x.path, y.path));
    const admin = adminFile(a);
    this.#db.set(a.name, a);
    this.#commit(ops);
    this.#write(`${ALTERNATIVES_ADMIN_DIR}/${a.name}`, admin);
  }

  #prepareInstall(a: Group, choice: string, force: boolean, ops: Op[]): void {
    const fs = a.choices.find((c) => c.path === choice)!;
    this.#installSingle(a.name, a.link, choice, force, ops);
    for (const s of a.slaves) {
      const file = fs.slaves.get(s.name) ?? '';
      if (file !== '' && this.#exists(file)) {
        this.#installSingle(s.name, s.link, file, force, ops);
        continue;
      }
      // update-alternatives warns "skip creation of LINK because associated file FILE doesn't exist" and drops the slave's links.
      if (force || this.#classify(s.link) !== 'other') ops.push({ kind: 'rm', path: s.link });
      ops.push({ kind: 'rm', path: `${ALTERNATIVES_DIR}/${s.name}` });
    }
  }

  #installSingle(name: string, link: string, file: string, force: boolean, ops: Op[]): void {
    const alt = `${ALTERNATIVES_DIR}/${name}`;
    ops.push({ kind: 'link', path: alt, target: file });
    const kind = this.#classify(link);
    const needed = force || kind === 'missing' || (kind === 'symlink' && (this.#lstat(link) as { target: string }).target !== alt);
    // A real file or directory at the link is left alone ("not replacing LINK with a link").
    if (!needed) return;
    let dir: FsEntry | undefined;
    try {
      dir = this.#tree.resolve(posix.dirname(link));
    } catch {
      dir = undefined;
    }
    if (dir?.type !== 'dir') {
      throw new UpdateAlternativesError(`error creating symbolic link '${link}.dpkg-tmp': ${dir === undefined ? 'No such file or directory' : 'Not a directory'}`);
    }
    ops.push({ kind: 'link', path: link, target: alt });
  }

  #removeFiles(a: Group, force: boolean, ops: Op[]): void {
    if (force || this.#classify(a.link) !== 'other') ops.push({ kind: 'rm', path: a.link });
    ops.push({ kind: 'rm', path: `${ALTERNATIVES_DIR}/${a.name}` });
    for (const s of a.slaves) {
      if (force || this.#classify(s.link) !== 'other') ops.push({ kind: 'rm', path: s.link });
      ops.push({ kind: 'rm', path: `${ALTERNATIVES_DIR}/${s.name}` });
    }
  }

  #commit(ops: Op[]): void {
    this.#dir(ALTERNATIVES_DIR);
    this.#dir(ALTERNATIVES_ADMIN_DIR);
    for (const op of ops) {
      if (op.kind === 'rm') this.#remove(op.path);
      else {
        this.#remove(op.path);
        this.#tree.add({ type: 'symlink', path: this.#real(op.path), target: op.target, uid: 0, gid: 0, mtime: this.#mtime });
      }
    }
  }

  /** Where a path is once its directory's symlinks are followed, as the kernel would for symlink(2) and unlink(2). */
  #real(path: string): string {
    const dir = this.#tree.resolve(posix.dirname(path));
    return dir ? posix.join(dir.path, posix.basename(path)) : path;
  }

  #remove(path: string): void {
    const e = this.#lstat(path);
    if (e !== undefined && e.type !== 'dir') this.#tree.remove(e.path);
  }

  #dir(path: string): void {
    if (this.#tree.resolve(path)?.type === 'dir') return;
    let at = '';
    for (const part of path.split('/').slice(1)) {
      at += '/' + part;
      if (this.#tree.resolve(at) === undefined) this.#tree.add({ type: 'dir', path: at, mode: 0o755, uid: 0, gid: 0, mtime: this.#mtime });
    }
  }

  #write(path: string, text: string): void {
    this.#remove(path);
    this.#tree.add({ type: 'file', path, mode: 0o644, uid: 0, gid: 0, mtime: this.#mtime, content: new Uint8Array(Buffer.from(text)) });
  }
}

function usage(message: string): never {
  throw new UpdateAlternativesError(message);
}

function checkName(name: string): void {
  if (/[/ \t]/.test(name)) throw new UpdateAlternativesError(`alternative name (${name}) must not contain '/' and spaces`);
}

function checkLink(link: string): void {
  if (!link.startsWith('/')) throw new UpdateAlternativesError(`alternative link is not absolute as it should be: ${link}`);
}

function checkPath(path: string): void {
  if (!path.startsWith('/')) throw new UpdateAlternativesError(`alternative path is not absolute as it should be: ${path}`);
}

function cloneGroup(g: Group): Group {
  return { ...g, slaves: g.slaves.map((s) => ({ ...s })), choices: g.choices.map((c) => ({ ...c, slaves: new Map(c.slaves) })) };
}

/** The admin file, byte for byte as update-alternatives writes it: status, link, slaves, then each choice. */
function adminFile(a: Group): string {
  const lines = [a.status, a.link];
  for (const s of a.slaves) lines.push(s.name, s.link);
  lines.push('');
  for (const c of a.choices) {
    lines.push(c.path, String(c.priority));
    for (const s of a.slaves) lines.push(c.slaves.get(s.name) ?? '');
  }
  lines.push('');
  for (const l of lines) if (l.includes('\n')) throw new UpdateAlternativesError(`newlines prohibited in update-alternatives files (${l})`);
  return lines.join('\n') + '\n';
}
