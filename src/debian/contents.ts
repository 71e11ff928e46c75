/**
 * The archive's `Contents-<arch>` index (which package ships which path), cut down to what the library closure
 * looks up: shared objects and dynamic loaders under a lib directory. The full index is ~150 MB of text for
 * amd64; the library rows are ~60k, a few MB, which is what pith keeps in its cache.
 *
 * Paths are stored as a merged-/usr image holds them (`lib/x86_64-linux-gnu/libc.so.6` in Contents is
 * `/usr/lib/x86_64-linux-gnu/libc.so.6`), so a lookup finds a library whichever side of the merge the package
 * shipped it on.
 */
import { PithError } from '../errors.ts';
import { normalisePath, usrMergedPath } from '../fs/tree.ts';
import { compareStrings } from '../order.ts';

/** Bump when the kept rows or their text form change: older cached forms are then simply not found. */
export const CONTENTS_FORMAT = 'contents-libraries-v1';

/** A shared object or loader file name: `libc.so.6`, `libssl.so.3`, `ld-linux-x86-64.so.2`, `libfoo-1.2.so`. */
const SHARED_OBJECT = /\.so(\.[0-9][^/]*)?$/;
/** Under a library directory: /lib, /lib64, /usr/lib/…, /usr/libexec/…, /usr/local/lib/… */
const LIBRARY_DIR = /^\/(usr\/(local\/)?)?lib[^/]*\//;

/** Whether the closure could ever look `path` (absolute, normalised) up: kept in the compact index. */
export function isLibraryPath(path: string): boolean {
  return LIBRARY_DIR.test(path) && SHARED_OBJECT.test(path);
}

export class ContentsIndex {
  readonly #packages: Map<string, string[]>;
  #byName: Map<string, string[]> | undefined;
  /** The Contents files this index was made from (URLs), for messages. */
  readonly sources: string[];

  constructor(packages: Map<string, string[]>, sources: string[]) {
    this.#packages = packages;
    this.sources = sources;
  }

  get size(): number {
    return this.#packages.size;
  }

  /** The packages shipping `path` (any spelling: `/lib/x` and `/usr/lib/x` are one file), sorted; [] for none. */
  packages(path: string): string[] {
    let key: string;
    try {
      key = usrMergedPath(normalisePath(path));
    } catch {
      return [];
    }
    return this.#packages.get(key) ?? [];
  }

  /** Every kept path whose file name is `name`, sorted: where a library lives when it is not on a search path. */
  pathsNamed(name: string): string[] {
    if (!this.#byName) {
      this.#byName = new Map();
      for (const path of [...this.#packages.keys()].sort()) {
        const base = path.slice(path.lastIndexOf('/') + 1);
        const list = this.#byName.get(base);
        if (list) list.push(path);
        else this.#byName.set(base, [path]);
      }
    }
    return this.#byName.get(name) ?? [];
  }

  /** The compact cached form: `path<TAB>pkg,pkg` lines, sorted. */
  toText(): string {
    return [...this.#packages].sort(([a], [b]) => compareStrings(a, b)).map(([p, pkgs]) => `${p}\t${pkgs.join(',')}\n`).join('');
  }

  static fromText(text: string, sources: string[]): ContentsIndex {
    const map = new Map<string, string[]>();
    for (const line of text.split('\n')) {
      const tab = line.indexOf('\t');
      if (tab > 0) map.set(line.slice(0, tab), line.slice(tab + 1).split(','));
    }
    return new ContentsIndex(map, sources);
  }

  /** One index over several (the components and suites of an archive): a path's packages are the union. */
  static merge(indexes: ContentsIndex[]): ContentsIndex {
    const map = new Map<string, string[]>();
    for (const index of indexes) {
      for (const [path, pkgs] of index.#packages) {
        const have = map.get(path);
        map.set(path, have ? [...new Set([...have, ...pkgs])].sort() : pkgs);
      }
    }
    return new ContentsIndex(map, indexes.flatMap((i) => i.sources));
  }
}

const NL = 0x0a;
const SO = Buffer.from('.so');

/**
 * Reads a Contents file (`PATH  [[AREA/]SECTION/]PACKAGE[,…]` per line, optionally after an old-style
 * preamble ending in a `FILE  LOCATION` header), keeping library paths only. Only lines holding ".so" are
 * decoded at all, which keeps a 150 MB index to well under a second.
 */
export function parseContents(bytes: Uint8Array, where: string): ContentsIndex {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const map = new Map<string, string[]>();
  let from = 0;
  while (from < buf.length) {
    const hit = buf.indexOf(SO, from);
    if (hit === -1) break;
    const start = buf.lastIndexOf(NL, hit) + 1;
    let end = buf.indexOf(NL, hit);
    if (end === -1) end = buf.length;
    from = end + 1;
    const line = buf.toString('utf8', start, end).trimEnd();
    // The location is the last field; a path may itself hold spaces.
    const m = /^(.*\S)\s+(\S+)$/.exec(line);
    if (!m) continue;
    let path: string;
    try {
      path = usrMergedPath(normalisePath(m[1]!));
    } catch {
      throw new PithError('CONTENTS_MALFORMED', `${where}: expected "PATH LOCATION" lines with paths inside /, found ${JSON.stringify(line.slice(0, 200))}`);
    }
    if (!isLibraryPath(path)) continue;
    const pkgs = m[2]!.split(',').map((loc) => loc.slice(loc.lastIndexOf('/') + 1)).filter((p) => p !== '');
    const have = map.get(path);
    map.set(path, [...new Set([...(have ?? []), ...pkgs])].sort());
  }
  return new ContentsIndex(map, [where]);
}
