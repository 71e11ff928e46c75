/**
 * Library closure for the spec's own binaries. Every ELF file added through `files:` names a program interpreter
 * and the shared libraries it needs; in the image each must resolve the way glibc's loader would find it.
 *
 * - At lock time (`libraries: auto`, the default) pith looks each need up in the archive's Contents index and adds
 *   the package that ships it to the resolution, recording in the lock which file needed what and which package
 *   was added. The record is keyed on the needs (interpreter, sonames, search paths), not on the file's bytes, so
 *   recompiling the same program keeps the lock; a changed need makes the lock stale.
 * - At build time (`auto` and `check`) the closure is verified on the assembled tree, transitively through every
 *   library found, and a need nothing in the image meets fails the build, naming the binary and the soname.
 */
import { posix } from 'node:path';
import { PithError, isPithError } from '../errors.ts';
import { canonicalJson } from '../json.ts';
import type { ContentsIndex } from '../debian/contents.ts';
import { contentHead, readContent } from '../fs/content.ts';
import type { FsEntry } from '../fs/entry.ts';
import { normalisePath, usrMergedPath, type FsTree } from '../fs/tree.ts';
import { isElf, MULTIARCH_TRIPLETS, readElf, type ElfInfo } from './elf.ts';
import { compareStrings } from '../order.ts';

export type LibrariesMode = 'auto' | 'check' | 'off';

/** What one ELF file from `files:` asks the dynamic loader for: the lock records it, per architecture. */
export interface ElfNeeds {
  /** The file's path in the image. */
  file: string;
  interpreter?: string;
  needed: string[];
  runpath?: string[];
  rpath?: string[];
}

/** How one need was met: by a file from the spec, a package the resolution already had, or one pith added. */
export interface LibraryProvision {
  /** A DT_NEEDED soname, or the interpreter's absolute path. */
  need: string;
  /** Where the loader finds it in the image (merged /usr: `/lib/x` is `/usr/lib/x`). */
  path: string;
  /** The package that ships it; absent when one of the spec's own files does. */
  package?: string;
  /** The package was added to the resolution for this need. */
  added?: true;
  /** The spec's files that need it. */
  neededBy: string[];
}

export interface LockedLibraries {
  needs: ElfNeeds[];
  provides: LibraryProvision[];
}

/** One ELF file of the spec as the build found its closure in the image. */
export interface LibraryClosure {
  file: string;
  interpreter?: { path: string; package?: string };
  /** Every library the loader maps, in load order: `path` is where it really is, `package` who shipped it. */
  libraries: Array<{ soname: string; path: string; package?: string }>;
}

interface SpecElf {
  needs: ElfNeeds;
  info: ElfInfo;
}

/**
 * The dynamically linked ELF files among the spec's files, with their needs, sorted by path. Static programs
 * and non-ELF files need nothing and are left out.
 */
export function specElfNeeds(files: FsEntry[]): SpecElf[] {
  const out: SpecElf[] = [];
  for (const f of files) {
    if (f.type !== 'file' || !isElf(contentHead(f.content, 64))) continue;
    const info = readElf(readContent(f.content), f.path);
    if (info.interpreter === undefined && info.needed.length === 0) continue;
    const needs: ElfNeeds = { file: f.path, needed: info.needed };
    if (info.interpreter !== undefined) needs.interpreter = info.interpreter;
    if (info.runpath !== undefined) needs.runpath = info.runpath;
    if (info.rpath !== undefined) needs.rpath = info.rpath;
    out.push({ needs, info });
  }
  return out.sort((a, b) => compareStrings(a.needs.file, b.needs.file));
}

/** What changed between the needs a lock recorded and the spec's files' current needs; [] when nothing did. */
export function needsChanges(locked: ElfNeeds[], current: ElfNeeds[]): string[] {
  const before = new Map(locked.map((n) => [n.file, n]));
  const now = new Map(current.map((n) => [n.file, n]));
  const describe = (n: ElfNeeds) => [n.interpreter, ...n.needed].filter((x) => x !== undefined).join(', ');
  const changes: string[] = [];
  for (const file of [...new Set([...before.keys(), ...now.keys()])].sort()) {
    const a = before.get(file);
    const b = now.get(file);
    if (!a) changes.push(`${file} now needs ${describe(b!)}`);
    else if (!b) changes.push(`${file} no longer needs shared libraries (the lock has ${describe(a)})`);
    else if (canonicalJson(a) !== canonicalJson(b)) {
      const added = b.needed.filter((x) => !a.needed.includes(x));
      const removed = a.needed.filter((x) => !b.needed.includes(x));
      const parts = [
        ...(added.length ? [`now needs ${added.join(', ')}`] : []),
        ...(removed.length ? [`no longer needs ${removed.join(', ')}`] : []),
        ...(a.interpreter !== b.interpreter ? [`interpreter ${a.interpreter ?? 'none'} → ${b.interpreter ?? 'none'}`] : []),
        ...(canonicalJson(a.runpath ?? []) !== canonicalJson(b.runpath ?? []) || canonicalJson(a.rpath ?? []) !== canonicalJson(b.rpath ?? [])
          ? ['library search path changed']
          : []),
      ];
      changes.push(`${file}: ${parts.length ? parts.join('; ') : 'needs reordered'}`);
    }
  }
  return changes;
}

/** The directories Debian's glibc searches when nothing else names one: multiarch first, then /lib and /usr/lib. */
export function defaultLibraryDirs(arch: string): string[] {
  const triplet = MULTIARCH_TRIPLETS[arch];
  return [...(triplet ? [`/lib/${triplet}`, `/usr/lib/${triplet}`] : []), '/lib', '/usr/lib'];
}

/**
 * RUNPATH/RPATH entries as directories of the image: `$ORIGIN` is the directory of the object. Relative entries
 * (taken from the process's working directory) and other tokens ($LIB, $PLATFORM) are not searched.
 */
function expandSearchPath(dirs: string[] | undefined, origin: string): string[] {
  const expanded = (dirs ?? []).map((d) => d.replace(/\$(ORIGIN\b|\{ORIGIN\})/g, origin));
  return insideImage(expanded.filter((d) => d.startsWith('/') && !d.includes('$')));
}

function checkArchitecture(elf: SpecElf, arch: string): void {
  if (elf.info.architecture === arch) return;
  const what = elf.info.architecture ? `an ${elf.info.architecture} ELF` : `an ELF for machine ${elf.info.machine}, which pith cannot map to a Debian architecture`;
  throw new PithError(
    'LIBRARY_ARCH_MISMATCH',
    `${elf.needs.file} (from files:): expected a ${arch} program for the ${arch} image, found ${what}; build each architecture from its own binary, or set "libraries: off"`,
    { details: { file: elf.needs.file, architecture: arch, found: elf.info.architecture } },
  );
}

export interface PlanOptions {
  contents: ContentsIndex;
  /** Packages the resolution already holds. */
  resolved: Set<string>;
  /** Packages the archive serves for this architecture. */
  available: Set<string>;
  /** Paths of all the spec's files in the image. */
  specPaths: string[];
}

/**
 * Lock time: where each need of the spec's ELF files will be found, and which packages must be added for it.
 * Looks in the spec's own files first, then in Contents, along the loader's search path (RUNPATH or RPATH, then
 * the default directories). Among several packages shipping the path, one the resolution already has wins, then
 * the first by name. A need nothing provides is a LIBRARY_MISSING naming the file and the soname.
 */
export function planLibraries(elfs: SpecElf[], arch: string, options: PlanOptions): { provides: LibraryProvision[]; add: string[] } {
  const spec = new Set(options.specPaths.map((p) => usrMergedPath(p)));
  const rows = new Map<string, LibraryProvision>();
  const missing: string[] = [];
  const meet = (need: string, file: string, candidates: string[]): boolean => {
    for (const path of candidates) {
      const canonical = usrMergedPath(path);
      let pkg: string | undefined;
      if (!spec.has(canonical)) {
        const shipping = options.contents.packages(canonical).filter((p) => options.available.has(p));
        pkg = shipping.find((p) => options.resolved.has(p)) ?? shipping[0];
        if (!pkg) continue;
      }
      const key = `${need}\0${canonical}\0${pkg ?? ''}`;
      const row = rows.get(key) ?? { need, path: canonical, package: pkg, added: pkg && !options.resolved.has(pkg) ? (true as const) : undefined, neededBy: [] };
      if (!row.neededBy.includes(file)) row.neededBy.push(file);
      rows.set(key, row);
      return true;
    }
    return false;
  };
  for (const elf of elfs) {
    checkArchitecture(elf, arch);
    const { file, interpreter, needed } = elf.needs;
    if (interpreter !== undefined && !meet(interpreter, file, insideImage([interpreter]))) {
      missing.push(`${file} needs the program interpreter ${interpreter}: ${whereElse(options.contents, posix.basename(interpreter))}`);
    }
    const origin = posix.dirname(file);
    const searched = [
      ...(elf.needs.runpath ? expandSearchPath(elf.needs.runpath, origin) : expandSearchPath(elf.needs.rpath, origin)),
      ...defaultLibraryDirs(arch),
    ];
    for (const soname of needed) {
      const candidates = soname.includes('/') ? insideImage([soname]) : searched.map((d) => posix.join(d, soname));
      if (!meet(soname, file, candidates)) {
        const dirs = [...new Set(candidates.map((c) => posix.dirname(usrMergedPath(c))))].join(', ');
        missing.push(`${file} needs ${soname}: no file from the spec and no package in Contents-${arch} ships it in ${dirs}${whereElse(options.contents, soname, '; ')}`);
      }
    }
  }
  if (missing.length > 0) {
    throw new PithError(
      'LIBRARY_MISSING',
      `${arch}: the spec's files need shared libraries nothing provides:\n${missing.map((m) => `  - ${m}`).join('\n')}\n(looked up in ${options.contents.sources.join(', ') || 'no Contents index: the archive offers none'})`,
      { details: { architecture: arch, missing } },
    );
  }
  const provides = [...rows.values()].sort((a, b) => compareStrings(a.need, b.need) || compareStrings(a.path, b.path));
  const add = [...new Set(provides.filter((p) => p.added).map((p) => p.package!))].sort();
  return { provides, add };
}

/** The paths that name a place in the image, normalised; one that climbs above / names none. */
function insideImage(paths: string[]): string[] {
  return paths.flatMap((p) => {
    try {
      return [normalisePath(p)];
    } catch {
      return [];
    }
  });
}

/** A hint naming where a file of that name does exist, off the search path. */
function whereElse(contents: ContentsIndex, name: string, prefix = ''): string {
  const elsewhere = contents.pathsNamed(name).slice(0, 3);
  if (elsewhere.length === 0) return prefix === '' ? 'no package ships it' : '';
  return `${prefix}${elsewhere.map((p) => `${contents.packages(p).join(', ')} ships it at ${p}`).join('; ')}, off the loader's search path`;
}

/** The resolver's view, as far as the closure needs it. */
interface ResolutionLike {
  packages: Array<{ name: string }>;
  exclusions: Array<{ name: string; reason: string }>;
}

export interface LockLibrariesInput<R extends ResolutionLike> {
  files: FsEntry[];
  architecture: string;
  /** The spec's own resolution. */
  resolution: R;
  /** Resolves again with these packages requested as well. */
  resolveWith: (extra: string[]) => R;
  /** Names of the packages the archive serves for the architecture. */
  available: Iterable<string>;
  /** Loaded only when some file needs a library: the index is large. */
  contents: () => Promise<ContentsIndex>;
}

/**
 * Lock time, one architecture: the resolution with the packages the spec's binaries need added, and the record
 * the lock keeps of it; `libraries` is undefined when no file of the spec needs a shared library.
 */
export async function lockLibraries<R extends ResolutionLike>(input: LockLibrariesInput<R>): Promise<{ resolution: R; libraries?: LockedLibraries }> {
  const elfs = specElfNeeds(input.files);
  if (elfs.length === 0) return { resolution: input.resolution };
  const { provides, add } = planLibraries(elfs, input.architecture, {
    contents: await input.contents(),
    resolved: new Set(input.resolution.packages.map((p) => p.name)),
    available: new Set(input.available),
    specPaths: input.files.map((f) => f.path),
  });
  const resolution = add.length > 0 ? input.resolveWith(add) : input.resolution;
  const have = new Set(resolution.packages.map((p) => p.name));
  for (const name of add.filter((n) => !have.has(n))) {
    const row = provides.find((p) => p.package === name)!;
    const excluded = resolution.exclusions.find((e) => e.name === name);
    throw new PithError(
      'LIBRARY_EXCLUDED',
      `${input.architecture}: ${row.neededBy.join(', ')} need(s) ${row.need}, which only ${name} ships, but ${name} is left out${excluded ? ` (${excluded.reason})` : ''}; keep it, or set "libraries: check"`,
      { details: { architecture: input.architecture, package: name, need: row.need } },
    );
  }
  return { resolution, libraries: { needs: elfs.map((e) => e.needs), provides } };
}

/**
 * How the spec's files' library needs differ from what a lock recorded (the same for every architecture); [] when
 * they match. Only a lock made with `libraries: auto` records needs.
 */
export function lockedNeedsChanges(files: FsEntry[], architectures: Record<string, { libraries?: LockedLibraries }>): string[] {
  const current = specElfNeeds(files).map((e) => e.needs);
  const changes = new Set<string>();
  for (const locked of Object.values(architectures)) for (const c of needsChanges(locked.libraries?.needs ?? [], current)) changes.add(c);
  return [...changes];
}

interface Loaded {
  /** The path the loader opened (its directory is $ORIGIN for a library). */
  path: string;
  /** Where the file really is, symlinks followed. */
  real: string;
  info: ElfInfo;
}

/**
 * Build time: each ELF file of the spec must find its interpreter and, transitively, every library in `tree`, as
 * Debian's glibc would: RPATH of the object and its loaders (when it has no RUNPATH), RUNPATH, then the default
 * directories. A candidate that is not an ELF object of the program's class and machine is passed over, as the
 * loader does. Directories named only in /etc/ld.so.conf.d count when the image has an /etc/ld.so.cache (the
 * loader reads those only through it, and pith never runs ldconfig). Throws LIBRARY_MISSING naming every binary
 * and soname that does not resolve.
 */
export function verifyLibraries(tree: FsTree, files: FsEntry[], arch: string): LibraryClosure[] {
  const closures: LibraryClosure[] = [];
  const missing: string[] = [];
  const confDirs = ldSoConfDirs(tree);
  const hasCache = tree.resolve('/etc/ld.so.cache')?.type === 'file';
  for (const elf of specElfNeeds(files)) {
    checkArchitecture(elf, arch);
    const file = elf.needs.file;
    const compatible = (info: ElfInfo) => info.class === elf.info.class && info.endian === elf.info.endian && info.machine === elf.info.machine;
    const closure: LibraryClosure = { file, libraries: [] };
    const loaded = new Set<string>();
    if (elf.info.interpreter !== undefined) {
      const interp = load(tree, elf.info.interpreter);
      if (!interp || !compatible(interp.info)) {
        missing.push(`${file} needs the program interpreter ${elf.info.interpreter}: ${interp ? `found ${interp.real}, which is not a ${arch} ELF object` : 'not in the image'}`);
      } else {
        closure.interpreter = { path: interp.real, package: tree.owner(interp.real) };
        if (interp.info.soname) loaded.add(interp.info.soname);
      }
    }
    const main: Loaded = { path: file, real: tree.resolve(file)?.path ?? file, info: elf.info };
    const queue: Array<{ obj: Loaded; chain: string[] }> = [{ obj: main, chain: [] }];
    for (let i = 0; i < queue.length; i++) {
      const { obj, chain: loaderChain } = queue[i]!;
      // $ORIGIN: the program's real directory (the kernel resolves it); a library's directory as it was opened.
      const origin = posix.dirname(obj === main ? main.real : obj.path);
      const chain = obj.info.runpath ? loaderChain : [...expandSearchPath(obj.info.rpath, origin), ...loaderChain];
      const dirs = [...(obj.info.runpath ? expandSearchPath(obj.info.runpath, origin) : chain), ...defaultLibraryDirs(arch), ...(hasCache ? confDirs : [])];
      for (const soname of obj.info.needed) {
        if (loaded.has(soname)) continue;
        let found: Loaded | undefined;
        for (const candidate of soname.includes('/') ? [soname] : dirs.map((d) => posix.join(d, soname))) {
          const o = load(tree, candidate);
          if (o && compatible(o.info)) {
            found = o;
            break;
          }
        }
        loaded.add(soname);
        if (!found) {
          const via = obj === main ? '' : ` (needed by ${obj.real})`;
          const conf = hasCache ? undefined : confDirs.map((d) => load(tree, posix.join(d, soname))).find((o) => o && compatible(o.info));
          const hint = conf ? `; ${conf.real} is in a directory /etc/ld.so.conf.d names, which the loader reads only through an /etc/ld.so.cache the image does not have` : '';
          missing.push(`${file} needs ${soname}${via}: not found in ${[...new Set(dirs)].join(', ')}${hint}`);
          continue;
        }
        if (found.info.soname) loaded.add(found.info.soname);
        closure.libraries.push({ soname, path: found.real, package: tree.owner(found.real) });
        queue.push({ obj: found, chain });
      }
    }
    closures.push(closure);
  }
  if (missing.length > 0) {
    throw new PithError('LIBRARY_MISSING', `${arch} image: the spec's files need shared libraries the image lacks:\n${missing.map((m) => `  - ${m}`).join('\n')}`, {
      details: { architecture: arch, missing },
    });
  }
  return closures;
}

/** The ELF object at `path` in the tree (links followed), or undefined when there is none or it is not readable ELF. */
function load(tree: FsTree, path: string): Loaded | undefined {
  let bytes: Uint8Array | undefined;
  let real: string | undefined;
  try {
    real = tree.resolve(path)?.path;
    bytes = tree.readFile(path);
  } catch (e) {
    if (isPithError(e)) return undefined; // a symlink loop, a path above /: the loader fails to open it too
    throw e;
  }
  if (!bytes || !real || !isElf(bytes)) return undefined;
  try {
    return { path: normalisePath(path), real, info: readElf(bytes, real) };
  } catch (e) {
    if (isPithError(e, 'ELF_INVALID')) return undefined;
    throw e;
  }
}

/** Directories listed in the image's /etc/ld.so.conf.d/*.conf, in file order. */
function ldSoConfDirs(tree: FsTree): string[] {
  const dirs: string[] = [];
  for (const name of tree.readdir('/etc/ld.so.conf.d') ?? []) {
    if (!name.endsWith('.conf')) continue;
    const text = Buffer.from(tree.readFile(`/etc/ld.so.conf.d/${name}`) ?? new Uint8Array()).toString('utf8');
    for (const line of text.split('\n')) {
      const dir = line.replace(/#.*/, '').trim();
      if (dir.startsWith('/')) dirs.push(dir);
    }
  }
  return dirs;
}
