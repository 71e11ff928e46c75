/**
 * Package metadata scanners read, written the way distroless does since images have no dpkg database:
 * `/var/lib/dpkg/status.d/<package>` holding the package's control file as one stanza (no `Status:` line), and
 * `/var/lib/dpkg/status.d/<package>.md5sums` listing the package's files that are in the image. Syft and Trivy
 * both read this layout.
 */
import { parseDeb822 } from '../debian/deb822.ts';
import type { DebFile, PackageId } from '../debian/packages.ts';
import { PithError } from '../errors.ts';
import { readContent, type Content, type ContentKeeper } from '../fs/content.ts';
import type { FsTree } from '../fs/tree.ts';
import { compareStrings } from '../order.ts';

export const STATUS_D = '/var/lib/dpkg/status.d';

export interface StatusWriteOptions {
  sourceDateEpoch: number;
  /** Where the files written go (a large image's lists add up to tens of MB); in memory without one. */
  keeper?: ContentKeeper;
}

export interface StatusPackage {
  /** Fields with lower-cased names, as readDeb gives them; used only to check the raw text agrees. */
  control: Record<string, string>;
  /** The control area; its raw `control` file is what gets written, and `md5sums` when present. */
  controlFiles: Map<string, Content>;
  name: string;
  architecture: string;
  multiArch?: string;
}

/**
 * Writes one status.d stanza per package (its md5sums come with the file lists, once the tree is final: see
 * `writeFileLists`); returns the paths written, sorted. The stanza is the
 * control file's own text, so field order, field-name case and `Source:` (with its parenthesised version when
 * the binary version differs) are exactly the package's. One architecture per image, so plain `<package>` names
 * are unambiguous; two packages of the same name are refused rather than silently overwriting each other.
 */
export function writeStatusD(tree: FsTree, packages: StatusPackage[], options: StatusWriteOptions): string[] {
  const seen = new Map<string, StatusPackage>();
  for (const p of packages) {
    const other = seen.get(p.name);
    if (other !== undefined) {
      throw new PithError(
        'STATUS_DUPLICATE',
        `expected one package per name in an image's status.d, found ${p.name} twice (architectures ${other.architecture} and ${p.architecture})`,
        { details: { package: p.name } },
      );
    }
    seen.set(p.name, p);
  }
  const written: string[] = [];
  for (const name of [...seen.keys()].sort()) {
    const p = seen.get(name)!;
    const stanza = statusStanza(p);
    const path = `${STATUS_D}/${name}`;
    put(tree, path, stanza, options, name);
    written.push(path);
  }
  return written;
}

/** The status.d stanza of one package: its raw control text, normalised to end in exactly one newline. */
export function statusStanza(p: StatusPackage): Uint8Array {
  const where = `${p.name}: control file`;
  const raw = p.controlFiles.get('control');
  if (raw === undefined) {
    throw new PithError('STATUS_NO_CONTROL', `${p.name}: expected a control file in the package's control area, found ${[...p.controlFiles.keys()].sort().join(', ') || 'nothing'}`, {
      details: { package: p.name },
    });
  }
  // Latin-1 maps every byte to one character and back, so the stanza keeps the control file's exact bytes even
  // if a package breaks policy's UTF-8 rule; field names, the only thing looked at, are ASCII.
  const text = Buffer.from(readContent(raw)).toString('latin1');
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  // dpkg-deb ignores blank lines around the paragraph; a scanner reading status.d would see a second, empty stanza.
  while (lines.length > 0 && lines[0]!.trim() === '') lines.shift();
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  // dpkg's status database has Status; distroless leaves it out and the scanners accept that. A control file should
  // never carry one, but if it did it would claim a state the image does not have.
  const kept: string[] = [];
  let dropping = false;
  for (const line of lines) {
    if (/^\s/.test(line)) {
      if (!dropping) kept.push(line);
      continue;
    }
    dropping = /^status\s*:/i.test(line);
    if (!dropping) kept.push(line);
  }
  const out = kept.join('\n') + '\n';
  const stanzas = parseDeb822(out, { source: where });
  if (stanzas.length !== 1) {
    throw new PithError('STATUS_CONTROL_INVALID', `${where}: expected one paragraph, found ${stanzas.length}`, { details: { package: p.name } });
  }
  const f = stanzas[0]!.fields;
  for (const required of ['package', 'version', 'architecture']) {
    if (!f[required]) {
      throw new PithError('STATUS_CONTROL_INVALID', `${where}: expected a ${required[0]!.toUpperCase() + required.slice(1)} field, found none`, { details: { package: p.name } });
    }
  }
  if (f['package'] !== p.name) {
    throw new PithError('STATUS_CONTROL_INVALID', `${where}: expected Package: ${p.name}, found Package: ${f['package']}`, { details: { package: p.name } });
  }
  return new Uint8Array(Buffer.from(out, 'latin1'));
}

function put(tree: FsTree, path: string, bytes: Uint8Array, options: StatusWriteOptions, owner: string | undefined): void {
  const mtime = options.sourceDateEpoch;
  const content = options.keeper === undefined ? bytes : options.keeper.keep(bytes);
  if (tree.get(path) !== undefined) tree.remove(path);
  const parent = path.slice(0, path.lastIndexOf('/'));
  for (const dir of ['/var', '/var/lib', '/var/lib/dpkg', parent]) {
    if (tree.get(dir) === undefined) tree.add({ type: 'dir', path: dir, mode: 0o755, uid: 0, gid: 0, mtime });
  }
  // Owned by the package it describes, so layer grouping puts it beside the package's files: a rebuild that
  // changes one package changes one layer.
  tree.add({ type: 'file', path, mode: 0o644, uid: 0, gid: 0, mtime, content }, owner);
}

/** dpkg's record of packages it knows from the archive; Trivy reads each package's `.deb` SHA256 from it. */
export const AVAILABLE = '/var/lib/dpkg/available';
export const INFO_D = '/var/lib/dpkg/info';

/** What the archive said about a `.deb` pith unpacked (the lock's record of it). */
export type AvailableRecord = PackageId & DebFile;

/**
 * Writes `/var/lib/dpkg/available`: one Packages-index stanza per installed package (Package, Version,
 * Architecture, Filename, Size, SHA256), sorted by name. The image then carries the SHA256 of every `.deb` it was
 * built from, so an SBOM made from the image alone has each package's checksum, and Trivy, which keys this file's
 * SHA256 by Package@Version (pkg/fanal/analyzer/pkg/dpkg/dpkg.go, parseDpkgAvailable), reports it as the digest.
 * It changes whenever any package does, so the build gives it a layer of its own (a few KB).
 */
export function writeAvailable(tree: FsTree, records: readonly AvailableRecord[], options: StatusWriteOptions): void {
  const sorted = [...records].sort((a, b) => compareStrings(a.name, b.name));
  const text = sorted
    .map((r) => `Package: ${r.name}\nVersion: ${r.version}\nArchitecture: ${r.architecture}\nFilename: ${r.filename}\nSize: ${r.size}\nSHA256: ${r.sha256}\n`)
    .join('\n');
  put(tree, AVAILABLE, new TextEncoder().encode(text), options, undefined);
}

/**
 * Writes, per package, what says which of its files the image holds — both called last, once the tree holds
 * everything (a spec file that replaced a package's file is no longer the package's):
 *
 * - `/var/lib/dpkg/info/<package>.list` as dpkg writes it: "/." then every path the package has in the image,
 *   directories, symlinks and conffiles included, in tree order (a directory right before what is under it);
 * - `/var/lib/dpkg/status.d/<package>.md5sums`: the lines of the `.deb`'s md5sums whose file is in the image and
 *   still the package's, in the `.deb`'s order, each path as the image has it (under merged /usr, `bin/sh` is
 *   `usr/bin/sh`). Scanners take a package's installed files from it (Trivy 0.74: dpkg.go parseDpkgMd5sums), so it
 *   must not name what trimming removed. A package with no file left gets none, as a package without md5sums.
 */
export function writeFileLists(tree: FsTree, packages: ReadonlyArray<{ name: string; md5sums?: Content }>, options: StatusWriteOptions): string[] {
  const byOwner = new Map<string, string[]>(packages.map((p) => [p.name, []]));
  for (const e of tree.entries()) {
    if (e.path === '/var/lib/dpkg' || e.path.startsWith('/var/lib/dpkg/')) continue;
    for (const owner of tree.owners(e.path)) byOwner.get(owner)?.push(e.path);
  }
  // Each file is written as UTF-8 as it is made, never as one string: a large package's list would be a string of
  // megabytes, and strings that size outlive the package in V8's large-object space.
  const text = new Utf8Text();
  const written: string[] = [];
  for (const name of [...byOwner.keys()].sort()) {
    text.add('/.\n');
    for (const p of byOwner.get(name)!.sort(treeOrder)) text.add(p, '\n');
    byOwner.delete(name);
    const path = `${INFO_D}/${name}.list`;
    put(tree, path, text.take(), options, name);
    written.push(path);
  }
  for (const p of [...packages].sort((a, b) => compareStrings(a.name, b.name))) {
    if (p.md5sums === undefined) continue;
    md5sumsInImage(tree, p.name, p.md5sums, text);
    if (text.length === 0) continue;
    const path = `${STATUS_D}/${p.name}.md5sums`;
    put(tree, path, text.take(), options, p.name);
    written.push(path);
  }
  return written.sort(compareStrings);
}

/**
 * Adds to `out` the md5sums lines of a package's regular files that the image holds as the package's, at their
 * image paths (none when nothing is left). A hard link is a regular file to dpkg (dh_md5sums lists both names of
 * perl-base's perl), so it keeps its line. Read line by line, decoded as the whole file would be (a byte-order mark
 * only at its very start is dropped).
 */
function md5sumsInImage(tree: FsTree, name: string, md5sums: Content, out: Utf8Text): void {
  const bytes = readContent(md5sums);
  for (let start = 0; start < bytes.byteLength; ) {
    const nl = bytes.indexOf(0x0a, start);
    const end = nl === -1 ? bytes.byteLength : nl;
    const line = (start === 0 ? utf8 : utf8KeepingBom).decode(bytes.subarray(start, end));
    start = end + 1;
    const m = /^([0-9a-f]{32}) [ *](.+)$/.exec(line.replace(/\r$/, ''));
    if (!m) continue;
    const entry = tree.get(`/${m[2]!}`);
    if ((entry?.type !== 'file' && entry?.type !== 'hardlink') || !tree.owners(entry.path).includes(name)) continue;
    out.add(m[1]!, '  ', entry.path.slice(1), '\n');
  }
}

const utf8 = new TextDecoder();
const utf8KeepingBom = new TextDecoder('utf-8', { ignoreBOM: true });
const encoder = new TextEncoder();

/** Text gathered as UTF-8 bytes as it is written, in one buffer used again for every file. */
class Utf8Text {
  #buffer = new Uint8Array(1 << 16);
  #length = 0;

  get length(): number {
    return this.#length;
  }

  add(...parts: string[]): void {
    for (const s of parts) {
      // UTF-8 takes at most 3 bytes per UTF-16 code unit.
      if (this.#length + s.length * 3 > this.#buffer.byteLength) {
        const grown = new Uint8Array(Math.max(this.#length + s.length * 3, this.#buffer.byteLength * 2));
        grown.set(this.#buffer.subarray(0, this.#length));
        this.#buffer = grown;
      }
      this.#length += encoder.encodeInto(s, this.#buffer.subarray(this.#length)).written;
    }
  }

  /** The bytes written since the last `take`, as a copy of their own. */
  take(): Uint8Array {
    const bytes = this.#buffer.slice(0, this.#length);
    this.#length = 0;
    return bytes;
  }
}

/**
 * Depth-first order: component by component, so "/usr/lib" and everything under it precede "/usr/lib-x". That is
 * code-unit order with "/" below every other character (a component that ends first sorts first), compared in place:
 * a package of 10k files is sorted without splitting a path per comparison.
 */
export function treeOrder(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === SLASH) return -1;
    if (y === SLASH) return 1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

const SLASH = 0x2f;
