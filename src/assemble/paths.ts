/**
 * Default path trimming: what an image never reads at run time (documentation, manual and info pages, message
 * catalogues, lintian overrides, glibc's charset converters, the duplicate zoneinfo trees) is taken out after
 * unpacking, and every path taken out is listed with the rule that took it — nothing is ever dropped silently.
 */
import { PithError } from '../errors.ts';
import type { FsTree } from '../fs/tree.ts';
import { compareStrings } from '../order.ts';

/**
 * Globs over absolute image paths: `*` and `?` stay within one segment, a `**` segment spans any number of them
 * (zero included). A pattern also covers everything beneath what it matches, so `/opt/x` removes the whole tree.
 *
 * Left out on purpose: `/usr/share/i18n/locales` (only the `locales` package ships it, and a spec that asks for
 * that package wants the data), and `/usr/share/zoneinfo` itself (tzdata is in an image to be read).
 */
export const DEFAULT_TRIM: readonly string[] = Object.freeze([
  '/usr/share/doc/**',
  '/usr/share/man/**',
  '/usr/share/info/**',
  '/usr/share/locale/**',
  '/usr/share/lintian/**',
  // glibc's iconv modules: without them iconv still has its built-in UTF-8/UCS/ASCII/Latin-1 converters.
  '/usr/lib/*/gconv/**',
  // bookworm's tzdata ships right/ as 600-odd leap-second copies and posix/ as a directory of links to ../Area;
  // neither is read unless TZ names it explicitly. Links pointing into them from outside are protected below.
  '/usr/share/zoneinfo/right/**',
  '/usr/share/zoneinfo/posix/**',
]);

export interface TrimmedPath {
  path: string;
  /** The package that shipped it; undefined for directories pith made on the way. */
  owner: string | undefined;
  /**
   * Why: `default: <glob>`, `paths.exclude: <glob>`, `emptied by trimming` for a directory left empty, or
   * `dangling: …` for a symlink trimming left pointing at nothing (reported, not removed).
   */
  rule: string;
}

export interface TrimOptions {
  /** More globs to remove (the spec's `paths.exclude`). */
  exclude?: string[];
  /** Globs to bring back from any rule (the spec's `paths.keep`). */
  keep?: string[];
  /** Replaces DEFAULT_TRIM (tests, or a caller that wants none: `[]`). */
  defaults?: readonly string[];
}

const USR_ALIASES = new Set(['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libo32', 'libx32']);

interface Rule {
  glob: string;
  rule: string;
  re: RegExp;
}

/** Compiles a glob; under merged /usr a pattern written against /lib or /bin is moved to /usr, where the files are. */
export function globToRegExp(glob: string, mergedUsr = false): RegExp {
  if (!glob.startsWith('/')) {
    throw new PithError('PATHS_PATTERN', `paths: expected an absolute glob like "/usr/share/doc/**", found ${JSON.stringify(glob)}`, { details: { pattern: glob } });
  }
  const segs = glob.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.includes('..')) {
    throw new PithError('PATHS_PATTERN', `paths: expected a glob without "..", found ${JSON.stringify(glob)}`, { details: { pattern: glob } });
  }
  if (mergedUsr && segs.length > 1 && USR_ALIASES.has(segs[0]!)) segs.unshift('usr');
  let re = '^';
  for (const seg of segs) {
    if (seg === '**') {
      re += '(?:/[^/]+)*';
      continue;
    }
    re += '/';
    for (const ch of seg) {
      if (ch === '*') re += '[^/]*';
      else if (ch === '?') re += '[^/]';
      else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(re + (segs.length === 0 ? '/' : '') + '$');
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** Returns a matcher over a path and its ancestors, memoised: a tree has far more paths than directories. */
function matcher(rules: Rule[]): (path: string) => Rule | undefined {
  if (rules.length === 0) return () => undefined;
  // Only directories are remembered: every path is asked about once, its parents many times (a large image has a
  // quarter million paths and a few thousand directories).
  const memo = new Map<string, Rule | null>();
  const inDir = (dir: string): Rule | undefined => {
    if (dir === '/') return undefined;
    const known = memo.get(dir);
    if (known !== undefined) return known ?? undefined;
    const found = rules.find((r) => r.re.test(dir)) ?? inDir(parentOf(dir));
    memo.set(dir, found ?? null);
    return found;
  };
  return (path) => (path === '/' ? undefined : (rules.find((r) => r.re.test(path)) ?? inDir(parentOf(path))));
}

/**
 * Copyright files are the licence notices distribution requires; they stay whatever a rule says. A doc directory
 * that is a symlink (`/usr/share/doc/libfoo-dev → libfoo1`, as many -dev packages ship) is how that package's
 * copyright is reached, so it stays too.
 */
function alwaysKept(tree: FsTree, path: string): boolean {
  if (/^\/usr\/share\/doc\/[^/]+\/copyright$/.test(path)) return true;
  return /^\/usr\/share\/doc\/[^/]+$/.test(path) && tree.get(path)?.type === 'symlink';
}

/** Every entry (canonical path) a lookup of `path` passes through: each symlink followed and the final entry. */
function trace(tree: FsTree, path: string): string[] | undefined {
  const visited: string[] = [];
  let entry;
  try {
    entry = tree.resolve(path, { visited });
  } catch {
    return undefined; // a loop: nothing to keep whole
  }
  if (entry === undefined) return undefined;
  if (entry.path !== '/') visited.push(entry.path);
  return visited;
}

function resolves(tree: FsTree, path: string): boolean {
  try {
    return tree.resolve(path) !== undefined;
  } catch {
    return false;
  }
}

/**
 * Removes what the rules match (DEFAULT_TRIM, then `exclude`) unless `keep` matches it or it is a copyright
 * notice, then directories trimming left empty. A file or link that a surviving symlink leads to (tzdata's
 * `posixrules`, say, or a link into `right/`) is kept, so trimming never breaks a link. Returns every removed
 * path, sorted, with its owner and rule.
 *
 * Directories are removed only when trimming emptied them or a rule names them: a directory a package ships
 * empty on purpose (`/var/cache/foo`, a mount point) outside every rule stays.
 */
export function trimPaths(tree: FsTree, options: TrimOptions = {}): TrimmedPath[] {
  const merged = tree.isMergedUsr;
  const rules: Rule[] = [
    ...(options.defaults ?? DEFAULT_TRIM).map((glob) => ({ glob, rule: `default: ${glob}`, re: globToRegExp(glob, merged) })),
    ...(options.exclude ?? []).map((glob) => ({ glob, rule: `paths.exclude: ${glob}`, re: globToRegExp(glob, merged) })),
  ];
  const trimRule = matcher(rules);
  const keepRule = matcher((options.keep ?? []).map((glob) => ({ glob, rule: `paths.keep: ${glob}`, re: globToRegExp(glob, merged) })));
  const entries = tree.entries();

  const doomed = new Map<string, string>();
  for (const e of entries) {
    if (e.type === 'dir' || alwaysKept(tree, e.path)) continue;
    const r = trimRule(e.path);
    if (r !== undefined && keepRule(e.path) === undefined) doomed.set(e.path, r.rule);
  }

  const symlinks = entries.filter((e) => e.type === 'symlink').map((e) => e.path);
  const resolvedBefore = new Set(symlinks.filter((p) => resolves(tree, p)));
  // Directories a surviving link leads to or through must not be pruned even if trimming empties them.
  const linkedDirs = new Set<string>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const link of symlinks) {
      if (doomed.has(link) || !resolvedBefore.has(link)) continue;
      for (const p of trace(tree, link) ?? []) {
        if (doomed.delete(p)) changed = true;
        if (tree.get(p)?.type === 'dir') linkedDirs.add(p);
      }
    }
  }

  const removed: TrimmedPath[] = [];
  const emptied = new Set<string>();
  const markAncestors = (p: string) => {
    for (let d = parentOf(p); d !== '/' && !emptied.has(d); d = parentOf(d)) emptied.add(d);
  };
  for (const [path, rule] of [...doomed].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const owner = tree.owner(path);
    if (tree.remove(path)) removed.push({ path, owner, rule });
    markAncestors(path);
  }

  // Deepest first (reverse path order puts children before their parent), so emptiness cascades upwards.
  const dirs = entries.filter((e) => e.type === 'dir').map((e) => e.path).reverse();
  for (const dir of dirs) {
    if (tree.get(dir)?.type !== 'dir' || tree.childCount(dir) !== 0) continue;
    // Top-level directories are the image's skeleton (/usr, /var, /opt): emptying one never means "remove it".
    if (parentOf(dir) === '/' || linkedDirs.has(dir) || keepRule(dir) !== undefined || alwaysKept(tree, dir)) continue;
    const r = trimRule(dir);
    if (r === undefined && !emptied.has(dir)) continue;
    const owner = tree.owner(dir);
    tree.remove(dir);
    removed.push({ path: dir, owner, rule: r?.rule ?? 'emptied by trimming' });
    markAncestors(dir);
  }

  // By construction nothing should dangle; if something ever does, it is said, not hidden.
  for (const link of resolvedBefore) {
    if (tree.get(link) !== undefined && !resolves(tree, link)) {
      const e = tree.get(link)!;
      removed.push({ path: link, owner: tree.owner(link), rule: `dangling: its target ${e.type === 'symlink' ? e.target : ''} was trimmed (link kept)` });
    }
  }
  return removed.sort((a, b) => compareStrings(a.path, b.path));
}
