/**
 * Deterministic POSIX (pax) tar: the layer format, and the container format of oci-archive and docker-archive.
 *
 * Headers are encoded here rather than through tar-stream's `pack`, for three reasons: `pack` is a stream, while a
 * layer is assembled in memory and its bytes are wanted synchronously; `pack` silently saturates uid/gid above
 * 0o777777 to 777777 instead of recording them; and when it falls back to pax it writes "PaxHeader" as the entry's
 * own ustar name. The encoding follows Go's archive/tar (what docker, umoci and skopeo read with): ustar fields
 * when a value fits, a pax extended header ('x') carrying only the values that do not, records sorted by key.
 * Nothing here reads the clock, the locale, the time zone or the umask.
 */
import type { FsEntry } from '../fs/entry.ts';
import { contentPieces, contentSize, type Content } from '../fs/content.ts';
import { concat } from '../fs/tar.ts';
import { PithError } from '../errors.ts';
import { compareStrings } from '../order.ts';

const BLOCK = 512;
const encoder = new TextEncoder();

export type TarType = 'file' | 'hardlink' | 'symlink' | 'dir';

const TYPEFLAG: Record<TarType, number> = { file: 0x30, hardlink: 0x31, symlink: 0x32, dir: 0x35 };

export interface TarHeader {
  /** As stored: relative, no leading "/", directories ending in "/". */
  name: string;
  type: TarType;
  mode: number;
  uid: number;
  gid: number;
  /** Content size; 0 for everything but files. */
  size: number;
  mtime: number;
  linkname?: string;
}

/** The header block(s) for one member: a pax extended header first when a value does not fit ustar. */
export function encodeHeader(h: TarHeader): Uint8Array {
  const pax: Array<[string, string]> = [];
  const block = new Uint8Array(BLOCK);

  const name = encoder.encode(h.name);
  if (isPortable(h.name) && name.length <= 100) block.set(name, 0);
  else {
    pax.push(['path', h.name]);
    block.set(fallbackName(h.name, 100), 0);
  }
  writeOctal(block, 100, 8, h.mode & 0o7777);
  numeric(block, 108, 8, h.uid, 'uid', pax);
  numeric(block, 116, 8, h.gid, 'gid', pax);
  numeric(block, 124, 12, h.size, 'size', pax);
  numeric(block, 136, 12, h.mtime, 'mtime', pax);
  block[156] = TYPEFLAG[h.type];
  if (h.linkname !== undefined) {
    const link = encoder.encode(h.linkname);
    if (isPortable(h.linkname) && link.length <= 100) block.set(link, 157);
    else {
      pax.push(['linkpath', h.linkname]);
      block.set(fallbackName(h.linkname, 100), 157);
    }
  }
  block.set(encoder.encode('ustar\u000000'), 257);
  // uname/gname (265, 297) stay empty: the image has no user database for a name to be resolved against.
  writeOctal(block, 329, 8, 0);
  writeOctal(block, 337, 8, 0);
  checksum(block);
  if (pax.length === 0) return block;

  pax.sort(([a], [b]) => compareStrings(a, b));
  const body = encoder.encode(pax.map(([k, v]) => paxRecord(k, v)).join(''));
  const xh = new Uint8Array(BLOCK);
  xh.set(fallbackName(`PaxHeaders/${baseName(h.name)}`, 100), 0);
  writeOctal(xh, 100, 8, 0o644);
  writeOctal(xh, 108, 8, 0);
  writeOctal(xh, 116, 8, 0);
  writeOctal(xh, 124, 12, body.length);
  writeOctal(xh, 136, 12, fitsOctal(h.mtime, 12) ? h.mtime : 0);
  xh[156] = 0x78; // 'x': extended header for the next member only
  xh.set(encoder.encode('ustar\u000000'), 257);
  writeOctal(xh, 329, 8, 0);
  writeOctal(xh, 337, 8, 0);
  checksum(xh);
  const out = new Uint8Array(BLOCK + padded(body.length) + BLOCK);
  out.set(xh, 0);
  out.set(body, BLOCK);
  out.set(block, BLOCK + padded(body.length));
  return out;
}

/** Zero bytes that bring `size` up to a whole block. */
export function padding(size: number): Uint8Array {
  return new Uint8Array(padded(size) - size);
}

/** Two zero blocks end an archive. No padding to a 10240-byte record: Go and tar-stream omit it too. */
export const END_OF_ARCHIVE = new Uint8Array(2 * BLOCK);

export interface LayerTarOptions {
  /** Seconds since the epoch; every mtime later than this is clamped to it. */
  sourceDateEpoch: number;
}

/**
 * The uncompressed layer tar for `entries`, in memory: `layerTarPieces` gathered. For small layers and tests; a build
 * streams the pieces instead.
 */
export function layerTar(entries: readonly FsEntry[], options: LayerTarOptions): Uint8Array {
  return concat([...layerTarPieces(entries, options)]);
}

/** Pieces smaller than this are gathered into one of about this size, so a consumer sees few, large writes. */
const GATHER = 1 << 20;

/**
 * The uncompressed layer tar for `entries`, as pieces of about 1 MiB (a file's content from disk is read as they
 * are asked for, so no layer is ever held whole). Members are ordered by the UTF-8 bytes of their path, which puts
 * a directory before everything under it (a parent's path is a prefix of its children's). Hardlinked files are
 * written as one file member (the group's first path in that order) and link members for the others: a tar
 * reader can only link to a path it has already extracted, and the content, mode and owner belong to the shared
 * inode, so which path carries them does not change the extracted tree. Every entry is checked before the first
 * piece is handed out.
 */
export function layerTarPieces(entries: readonly FsEntry[], options: LayerTarOptions & { transient?: boolean }): Iterable<Uint8Array> {
  return planLayerTar(entries, options).pieces({ transient: options.transient });
}

/** A layer tar checked and ordered once, to be made as often as wanted (a build hashes it, then compresses it). */
export interface LayerTarPlan {
  /** The tar's pieces, as `layerTarPieces` gives them; each call makes the tar again from the start. */
  pieces(options?: { transient?: boolean }): Iterable<Uint8Array>;
}

/**
 * Checks `entries` and orders them (see `layerTarPieces`); the headers are encoded only as the pieces are asked for.
 * What the plan holds is the entries in order and the hardlinks' groups: a layer of 200k entries costs an array, not
 * 200k headers, however many times it is made.
 */
export function planLayerTar(entries: readonly FsEntry[], options: LayerTarOptions): LayerTarPlan {
  const members = planMembers(entries, options);
  return { pieces: (o = {}) => gather(members(), o.transient ?? false) };
}

/**
 * What the tar holds, in order: headers (encoded only as they are written: a layer of many small files would hold
 * hundreds of MB of them otherwise), and file contents between them.
 */
type Member = TarHeader | { content: Content };

/** `transient`: pieces are views of buffers used again, for a consumer done with each before it asks for the next (a hash). */
function* gather(members: Iterable<Member>, transient: boolean): Generator<Uint8Array> {
  let batch = new Uint8Array(GATHER);
  let used = 0;
  const flush = function* () {
    if (used === 0) return;
    yield batch.subarray(0, used);
    if (!transient) batch = new Uint8Array(GATHER);
    used = 0;
  };
  const add = function* (bytes: Uint8Array) {
    if (bytes.byteLength >= GATHER / 4) {
      yield* flush();
      yield bytes;
      return;
    }
    if (used + bytes.byteLength > GATHER) yield* flush();
    batch.set(bytes, used);
    used += bytes.byteLength;
  };
  for (const m of members) {
    if (!('content' in m)) {
      yield* add(encodeHeader(m));
      continue;
    }
    for (const piece of contentPieces(m.content, { transient })) yield* add(piece);
    yield* add(padding(contentSize(m.content)));
  }
  yield* add(END_OF_ARCHIVE);
  yield* flush();
}

/**
 * The members of the tar of `entries`, as a function making them afresh (headers are small objects made as they are
 * written, never all held). Everything is checked here, before the function is returned: paths, duplicates,
 * hardlink targets and every header's numbers, so a bad entry fails before the first piece of the tar exists.
 */
function planMembers(entries: readonly FsEntry[], options: LayerTarOptions): () => Generator<Member> {
  const epoch = options.sourceDateEpoch;
  if (!Number.isSafeInteger(epoch) || epoch < 0) {
    throw new PithError('OCI_BAD_EPOCH', `expected SOURCE_DATE_EPOCH to be a non-negative whole number of seconds, found ${epoch}`);
  }
  for (const e of entries) checkPath(e.path, 'entry');
  const sorted = inUtf8Order(entries);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.path === sorted[i - 1]!.path) throw new PithError('OCI_DUPLICATE_PATH', `expected each path once in a layer, found "${sorted[i]!.path}" twice`);
  }

  // Every hardlink resolves to the file entry owning the inode; the group's members are then ordered with the rest.
  const inodeOf = new Map<string, FsEntry & { type: 'file' }>();
  if (entries.some((e) => e.type === 'hardlink')) {
    const byPath = new Map<string, FsEntry>(entries.map((e) => [e.path, e]));
    for (const e of entries) {
      if (e.type !== 'hardlink') continue;
      checkPath(e.target, `hardlink target of "${e.path}"`);
      let target = e.target;
      const seen = new Set([e.path]);
      for (;;) {
        const t = byPath.get(target);
        if (t === undefined) {
          throw new PithError('OCI_HARDLINK_TARGET', `hardlink "${e.path}" points to "${target}", which is not in the same layer; expected its target file alongside it`);
        }
        if (t.type === 'file') {
          inodeOf.set(e.path, t);
          inodeOf.set(t.path, t);
          break;
        }
        if (t.type !== 'hardlink' || seen.has(target)) {
          throw new PithError('OCI_HARDLINK_TARGET', `hardlink "${e.path}" must lead to a regular file, found ${seen.has(target) ? 'a cycle' : `a ${t.type}`} at "${target}"`);
        }
        seen.add(target);
        target = t.target;
      }
    }
  }

  const members = function* (): Generator<Member> {
    const firstPathOfInode = new Map<string, string>();
    for (const e of sorted) {
      const name = e.path.slice(1);
      const owner = inodeOf.get(e.path);
      if (owner !== undefined) {
        const mtime = clamp(owner.mtime, epoch);
        const first = firstPathOfInode.get(owner.path);
        if (first === undefined) {
          firstPathOfInode.set(owner.path, e.path);
          yield* fileMembers(name, owner, mtime);
        } else {
          yield checked({ name, type: 'hardlink', mode: owner.mode, uid: owner.uid, gid: owner.gid, size: 0, mtime, linkname: first.slice(1) });
        }
        continue;
      }
      const mtime = clamp(e.mtime, epoch);
      switch (e.type) {
        case 'file':
          yield* fileMembers(name, e, mtime);
          break;
        case 'dir':
          yield checked({ name: `${name}/`, type: 'dir', mode: e.mode, uid: e.uid, gid: e.gid, size: 0, mtime });
          break;
        case 'symlink':
          if (e.target === '' || e.target.includes('\0')) {
            throw new PithError('OCI_BAD_SYMLINK', `expected symlink "${e.path}" to have a non-empty target without NUL bytes, found ${JSON.stringify(e.target)}`);
          }
          // A symlink's own mode is meaningless on Linux; 0777 is what the kernel reports and what tar tools write.
          yield checked({ name, type: 'symlink', mode: 0o777, uid: e.uid, gid: e.gid, size: 0, mtime, linkname: e.target });
          break;
        case 'hardlink':
          break; // every hardlink belongs to an inode group, written above
      }
    }
  };
  for (const _ of members()) {
    // checking only: the headers are made again as the tar is written
  }
  return members;
}

/**
 * Entries sorted by the UTF-8 bytes of their paths. UTF-16 order (JavaScript's) is the same unless a path holds a
 * character from U+D800 up, where a surrogate pair would sort below U+E000..U+FFFF; only then are bytes compared.
 */
function inUtf8Order(entries: readonly FsEntry[]): FsEntry[] {
  if (!entries.some((e) => /[\ud800-\uffff]/.test(e.path))) return [...entries].sort((a, b) => compareStrings(a.path, b.path));
  const keyed = entries.map((e) => ({ e, key: Buffer.from(e.path, 'utf8') }));
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  return keyed.map((k) => k.e);
}

function* fileMembers(name: string, e: { mode: number; uid: number; gid: number; content: Content }, mtime: number): Generator<Member> {
  yield checked({ name, type: 'file', mode: e.mode, uid: e.uid, gid: e.gid, size: contentSize(e.content), mtime });
  yield { content: e.content };
}

/** A header whose numbers `encodeHeader` will take (checked now, so a bad entry fails before anything is written). */
function checked(h: TarHeader): TarHeader {
  for (const [key, value] of [['uid', h.uid], ['gid', h.gid], ['size', h.size], ['mtime', h.mtime]] as const) checkNumber(key, value);
  return h;
}

function clamp(mtime: number, epoch: number): number {
  if (!Number.isFinite(mtime)) throw new PithError('OCI_BAD_MTIME', `expected a finite mtime, found ${mtime}`);
  return Math.max(0, Math.min(Math.floor(mtime), epoch));
}

function checkPath(path: string, what: string): void {
  const ok = path.startsWith('/') && path !== '/' && !path.endsWith('/') && !path.includes('\0')
    && path.slice(1).split('/').every((c) => c !== '' && c !== '.' && c !== '..');
  if (!ok) {
    throw new PithError('OCI_BAD_PATH', `expected the ${what} path to be absolute and normalised (like "/usr/bin/env", not "/" itself), found ${JSON.stringify(path)}`);
  }
}

/** Printable ASCII only: anything else goes into a pax record, which is UTF-8 by definition. */
function isPortable(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

/** What a reader without pax support sees: printable ASCII, truncated to the field. */
function fallbackName(s: string, max: number): Uint8Array {
  return encoder.encode(s.replace(/[^\x20-\x7e]/g, '_').slice(0, max));
}

function baseName(name: string): string {
  const trimmed = name.endsWith('/') ? name.slice(0, -1) : name;
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

function fitsOctal(value: number, field: number): boolean {
  return Number.isSafeInteger(value) && value >= 0 && value < 8 ** (field - 1);
}

function checkNumber(key: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new PithError('OCI_BAD_HEADER', `expected tar ${key} to be a non-negative whole number, found ${value}`);
  }
}

function numeric(block: Uint8Array, off: number, field: number, value: number, key: string, pax: Array<[string, string]>): void {
  checkNumber(key, value);
  if (fitsOctal(value, field)) writeOctal(block, off, field, value);
  else {
    pax.push([key, String(value)]);
    writeOctal(block, off, field, 0);
  }
}

/** Zero-padded octal filling the field but its last byte, which stays NUL (Go's and GNU tar's layout). */
function writeOctal(block: Uint8Array, off: number, field: number, value: number): void {
  block.set(encoder.encode(value.toString(8).padStart(field - 1, '0')), off);
}

function checksum(block: Uint8Array): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.set(encoder.encode(sum.toString(8).padStart(6, '0')), 148);
  block[154] = 0;
  block[155] = 0x20;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = encoder.encode(body).length;
  let len = bodyLen + String(bodyLen).length;
  if (String(len).length !== String(bodyLen).length) len = bodyLen + String(len).length;
  return `${len}${body}`;
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}
