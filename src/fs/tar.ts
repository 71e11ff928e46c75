/**
 * The one tar reader, for `.deb` members (streamed out of a decompressor), image layers (in memory) and image
 * archives (indexed on disk without reading their content). Every tar is treated as hostile: each header's
 * checksum and format are checked, every size is checked before anything is allocated for it, and an archive that
 * ends early is refused rather than read as shorter.
 *
 * Formats: ustar (with its name prefix), pax extended headers (`path`, `linkpath`, `size`, `uid`, `gid`, `mtime`)
 * and GNU long names and link names; global pax headers are skipped, as GNU tar does. Errors are `TarError`s,
 * which each caller turns into its own stage's error codes.
 */
import { constants as bufferConstants } from 'node:buffer';
import { promises as fs } from 'node:fs';
import { posix, resolve } from 'node:path';

/** The typeflags by tar-stream's names (which the .deb reader's errors use); `unknown` for the rest (GNU sparse, …). */
export type TarEntryType =
  | 'file'
  | 'contiguous-file'
  | 'link'
  | 'symlink'
  | 'character-device'
  | 'block-device'
  | 'directory'
  | 'fifo'
  | 'unknown';

const TYPES: Readonly<Record<string, TarEntryType>> = {
  '0': 'file',
  '\0': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'character-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
  '7': 'contiguous-file',
};

export interface TarHeader {
  /** The path as the archive spells it (pax path, GNU long name or ustar prefix applied), not normalised. */
  name: string;
  type: TarEntryType;
  /** The typeflag as found, e.g. "S" for a GNU sparse file. */
  typeflag: string;
  /** Permission bits only. */
  mode: number;
  uid: number;
  gid: number;
  /** Whole seconds since the epoch (a pax mtime's fraction dropped). */
  mtime: number;
  size: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Byte offset of the content in the tar. */
  offset: number;
}

export interface TarEntry extends TarHeader {
  /**
   * The content; call it before asking for the next entry, or the content is skipped unread. `transient`: the bytes
   * are only valid until the archive is read on (no copy when the source holds them in one piece), for a caller that
   * copies them somewhere at once.
   */
  content(options?: { transient?: boolean }): Promise<Uint8Array>;
  /**
   * The content in pieces as the source hands them out, for a file that need not (or cannot, past Node's buffer
   * limit) be held whole. Each piece is only valid until the next is asked for. Like `content()`, once per entry.
   */
  chunks(): AsyncGenerator<Uint8Array>;
}

/** Whether an entry holds content of its own (what `content()` is for). */
export function isRegularFile(h: Pick<TarHeader, 'type'>): boolean {
  return h.type === 'file' || h.type === 'contiguous-file';
}

export class TarError extends Error {
  constructor(
    /** `too-large`: within the format but beyond what can be held (a limit); `malformed`: not a valid tar. */
    readonly reason: 'malformed' | 'too-large',
    message: string,
  ) {
    super(message);
    this.name = 'TarError';
  }
}

/** Where a tar's bytes come from, front to back. */
export interface TarSource {
  /**
   * The next `n` bytes, or fewer where the tar ends. `transient`: the caller is done with them before it reads
   * again, so they may be a view of the source's own buffers.
   */
  read(n: number, transient?: boolean): Promise<Uint8Array>;
  /** Passes over the next `n` bytes (`Infinity`: all that are left); resolves to how many there were. */
  skip(n: number): Promise<number>;
  /** The tar's length when known: a member claiming more than is left is refused before any of it is read. */
  readonly length?: number;
  /** Releases what the source holds; called once reading stops, early or not. */
  close?(): Promise<void>;
}

/** A tar held in memory; content comes back as views of `bytes` (no copy). */
export function bytesSource(bytes: Uint8Array): TarSource {
  let at = 0;
  return {
    length: bytes.byteLength,
    async read(n) {
      const out = bytes.subarray(at, Math.min(at + n, bytes.byteLength));
      at += out.byteLength;
      return out;
    },
    async skip(n) {
      const k = Math.min(n, bytes.byteLength - at);
      at += k;
      return k;
    },
  };
}

/**
 * A tar arriving in chunks (out of a decompressor). Content comes back as exact, unpooled copies, so a file kept
 * does not pin the decompressor's buffers; memory grows only with bytes that actually arrive, whatever a header
 * claims. Reading ends by draining the stream, so its own integrity check (gzip's CRC, xz's check) still runs.
 */
export function streamSource(chunks: AsyncIterable<Uint8Array>): TarSource {
  const it = chunks[Symbol.asyncIterator]();
  let head: Uint8Array | undefined;
  let ended = false;
  const take = async (n: number, into?: Uint8Array[]): Promise<number> => {
    let got = 0;
    while (got < n) {
      if (head === undefined || head.byteLength === 0) {
        if (ended) break;
        const next = await it.next();
        if (next.done) {
          ended = true;
          break;
        }
        head = next.value;
        continue;
      }
      const k = Math.min(n - got, head.byteLength);
      into?.push(head.subarray(0, k));
      head = head.subarray(k);
      got += k;
    }
    return got;
  };
  return {
    async read(n, transient) {
      if (transient && head !== undefined && head.byteLength >= n) {
        const out = head.subarray(0, n);
        head = head.subarray(n);
        return out;
      }
      const parts: Uint8Array[] = [];
      await take(n, parts);
      return concat(parts);
    },
    skip: (n) => take(n),
    async close() {
      await it.return?.();
    },
  };
}

/** The chunks in one new array of exactly their length (never a slice of Node's shared buffer pool). */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const c of chunks) total += c.byteLength;
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

/** A tar file read by position: headers only while indexing, a member's content when asked for. */
function fileSource(handle: fs.FileHandle, length: number, where: string): TarSource {
  let at = 0;
  return {
    length,
    async read(n) {
      const out = await readAt(handle, at, Math.min(n, length - at), where);
      at += out.byteLength;
      return out;
    },
    async skip(n) {
      const k = Math.min(n, length - at);
      at += k;
      return k;
    },
  };
}

async function readAt(handle: fs.FileHandle, position: number, size: number, where: string): Promise<Uint8Array> {
  const out = await readUpTo(handle, position, size);
  // The file shrank since its length was taken.
  if (out.byteLength < size) throw new TarError('malformed', `expected ${size} bytes at byte ${position} of ${where}, found the file ends first`);
  return out;
}

/** `size` bytes of a file from `position`, fewer only where the file ends first (the caller says what that means). */
export async function readUpTo(handle: fs.FileHandle, position: number, size: number): Promise<Uint8Array> {
  const out = Buffer.alloc(size);
  let done = 0;
  while (done < size) {
    const { bytesRead } = await handle.read(out, done, size - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return new Uint8Array(out.buffer, out.byteOffset, done);
}

export interface ReadTarOptions {
  /** Names the tar in errors. */
  where: string;
  /** The largest content `content()` returns (default: the largest buffer Node can make). */
  maxFileSize?: number;
}

const BLOCK = 512;
/** pax records and GNU long names are a few hundred bytes; tar-stream refuses more than this, and so does pith. */
const MAX_META = 4 * 1024 * 1024;
/** The largest piece `chunks()` hands out at once. */
const CHUNK = 1 << 20;

/** Where reading a tar has got to; entries read their content through it. */
class Walk {
  at = 0;
  constructor(
    readonly source: TarSource,
    readonly where: string,
    readonly maxFileSize: number,
  ) {}

  async exactly(n: number, at: number, what: string, transient = false): Promise<Uint8Array> {
    const bytes = await this.source.read(n, transient);
    if (bytes.byteLength < n) throw this.endsFirst(n, at, what);
    return bytes;
  }

  async skipExactly(n: number, at: number, what: string): Promise<void> {
    if (n > 0 && (await this.source.skip(n)) < n) throw this.endsFirst(n, at, what);
  }

  endsFirst(n: number, at: number, what: string): TarError {
    return new TarError('malformed', `expected ${n} bytes of ${what} at byte ${at} of ${this.where}, found the archive ends first`);
  }
}

/** An entry as `readTar` yields it; a class so that the many members of a layer share one shape and no closures. */
class Entry implements TarEntry {
  readonly name: string;
  readonly type: TarEntryType;
  readonly typeflag: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: number;
  readonly size: number;
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
  readonly offset: number;
  #walk: Walk;
  /** Whether the content has been consumed (read, or skipped once the next entry was asked for). */
  #done = false;
  /** Bytes of content `chunks()` has not handed out yet (a reader may stop early). */
  #unread: number;

  constructor(h: RawHeader, name: string, linkname: string, pax: Record<string, string> | undefined, size: number, offset: number, walk: Walk) {
    this.name = name;
    // Old tars mark a directory only by the slash its name ends in.
    this.type = h.type === 'file' && name.endsWith('/') ? 'directory' : h.type;
    this.typeflag = h.typeflag;
    this.mode = h.mode;
    this.uid = paxNumber(pax, 'uid', h.uid);
    this.gid = paxNumber(pax, 'gid', h.gid);
    this.mtime = Math.floor(paxNumber(pax, 'mtime', h.mtime));
    this.size = size;
    this.linkname = linkname;
    this.devmajor = h.devmajor;
    this.devminor = h.devminor;
    this.offset = offset;
    this.#walk = walk;
    this.#unread = size;
  }

  async content(options: { transient?: boolean } = {}): Promise<Uint8Array> {
    const walk = this.#walk;
    if (this.#done) throw new Error(`content of ${this.name} in ${walk.where} read twice or after the next entry`);
    this.#done = true;
    this.#unread = 0;
    if (this.size > walk.maxFileSize) throw new TarError('too-large', `expected at most ${walk.maxFileSize} bytes per file in ${walk.where}, found ${this.name} of ${this.size} bytes`);
    return walk.exactly(this.size, this.offset, `content of ${this.name}`, options.transient ?? false);
  }

  async *chunks(): AsyncGenerator<Uint8Array> {
    const walk = this.#walk;
    if (this.#done) throw new Error(`content of ${this.name} in ${walk.where} read twice or after the next entry`);
    this.#done = true;
    while (this.#unread > 0) {
      const piece = await walk.exactly(Math.min(this.#unread, CHUNK), this.offset + this.size - this.#unread, `content of ${this.name}`, true);
      this.#unread -= piece.byteLength;
      yield piece;
    }
  }

  /** Moves past the content when nobody read it. */
  async finish(): Promise<void> {
    if (this.#done && this.#unread === 0) return;
    const skip = this.#done ? this.#unread : this.size;
    this.#done = true;
    this.#unread = 0;
    await this.#walk.skipExactly(skip, this.offset + this.size - skip, `content of ${this.name}`);
  }
}

function paxNumber(pax: Record<string, string> | undefined, key: string, fallback: number): number {
  const v = pax?.[key];
  return v !== undefined && Number.isFinite(Number(v)) ? Number(v) : fallback;
}

/** Each member of a tar, in archive order, with its pax and GNU long-name records applied. */
export async function* readTar(source: TarSource, options: ReadTarOptions): AsyncGenerator<TarEntry> {
  const { where } = options;
  const walk = new Walk(source, where, options.maxFileSize ?? bufferConstants.MAX_LENGTH);
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> | undefined;
  try {
    for (;;) {
      const at = walk.at;
      const block = await source.read(BLOCK, true);
      // An archive may end without its two zero blocks; one that ends inside a header is cut short.
      if (block.byteLength === 0) return;
      if (block.byteLength < BLOCK) throw new TarError('malformed', `expected a ${BLOCK}-byte tar header at byte ${at} of ${where}, found the archive ends after ${block.byteLength}`);
      if (isZeroBlock(block)) {
        await source.skip(Infinity);
        return;
      }
      const h = decodeHeader(block, at, where);
      const meta = h.typeflag === 'x' || h.typeflag === 'g' || h.typeflag === 'L' || h.typeflag === 'K';
      let size = h.size;
      if (!meta && pax?.size !== undefined) {
        if (!/^\d+$/.test(pax.size)) throw new TarError('malformed', `expected a decimal pax size for the member at byte ${at} of ${where}, found ${JSON.stringify(pax.size)}`);
        size = Number(pax.size);
      }
      const dataAt = at + BLOCK;
      const padding = (BLOCK - (size % BLOCK)) % BLOCK;
      if (source.length !== undefined && dataAt + size > source.length) {
        throw new TarError('malformed', `expected ${size} bytes of content after the header at byte ${at} of ${where}, found the archive ends first`);
      }
      walk.at = dataAt + size + padding;
      if (meta) {
        if (size > MAX_META) throw new TarError('malformed', `expected at most ${MAX_META} bytes in the ${h.typeflag} header at byte ${at} of ${where}, found ${size}`);
        const data = Buffer.from(await walk.exactly(size, dataAt, 'extended header', true));
        await walk.skipExactly(padding, dataAt + size, 'padding');
        if (h.typeflag === 'L') longName = cString(data);
        else if (h.typeflag === 'K') longLink = cString(data);
        else if (h.typeflag === 'x') pax = parsePax(data);
        continue;
      }
      const entry = new Entry(h, pax?.path ?? longName ?? h.name, pax?.linkpath ?? longLink ?? h.linkname, pax, size, dataAt, walk);
      pax = longName = longLink = undefined;
      yield entry;
      await entry.finish();
      await walk.skipExactly(padding, dataAt + size, 'padding');
    }
  } finally {
    await source.close?.();
  }
}

function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** A header's own fields, before pax and long-name records are applied. */
type RawHeader = Omit<TarHeader, 'offset'>;

/** One header block, before pax and long-name records are applied. */
function decodeHeader(block: Uint8Array, at: number, where: string): RawHeader {
  const b = Buffer.from(block.buffer, block.byteOffset, BLOCK);
  if (!checksumOk(b)) throw new TarError('malformed', `expected a tar header at byte ${at} of ${where}, found bytes whose checksum does not match`);
  const magic = b.toString('latin1', 257, 263);
  const ustar = magic === 'ustar\0';
  if (!ustar && !(magic === 'ustar ' && b.toString('latin1', 263, 265) === ' \0')) {
    throw new TarError('malformed', `expected a ustar, pax or GNU tar header at byte ${at} of ${where}, found the format ${JSON.stringify(magic)}`);
  }
  const typeflag = String.fromCharCode(b[156]!);
  const size = headerNumber(b, 124, 12, 'size', at, where);
  if (size < 0 || !Number.isSafeInteger(size)) throw new TarError('malformed', `expected a size for the member at byte ${at} of ${where}, found ${size}`);
  // In GNU headers the prefix field holds other things; only ustar's is part of the name.
  const prefix = ustar && b[345] !== 0 ? cString(b.subarray(345, 500)) : '';
  const name = cString(b.subarray(0, 100));
  return {
    name: prefix ? `${prefix}/${name}` : name,
    type: TYPES[typeflag] ?? 'unknown',
    typeflag,
    mode: headerNumber(b, 100, 8, 'mode', at, where) & 0o7777,
    uid: headerNumber(b, 108, 8, 'uid', at, where),
    gid: headerNumber(b, 116, 8, 'gid', at, where),
    mtime: headerNumber(b, 136, 12, 'mtime', at, where),
    size,
    linkname: cString(b.subarray(157, 257)),
    devmajor: headerNumber(b, 329, 8, 'device major', at, where),
    devminor: headerNumber(b, 337, 8, 'device minor', at, where),
  };
}

function headerNumber(b: Buffer, from: number, len: number, what: string, at: number, where: string): number {
  const n = tarNumber(b.subarray(from, from + len));
  if (n === undefined) throw new TarError('malformed', `expected a number for the ${what} in the tar header at byte ${at} of ${where}, found ${JSON.stringify(b.toString('latin1', from, from + len))}`);
  return n;
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.buffer, bytes.byteOffset, end === -1 ? bytes.byteLength : end).toString('utf8');
}

function checksumOk(block: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return tarNumber(block.subarray(148, 156)) === sum;
}

/** Octal, or GNU base-256 (first byte 0x80, or 0xff for a negative number) for values octal cannot hold. */
function tarNumber(field: Uint8Array): number | undefined {
  if (field[0] === 0x80 || field[0] === 0xff) {
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + (field[0] === 0xff ? 0xff - field[i]! : field[i]!);
    return field[0] === 0xff ? -(n + 1) : n;
  }
  // Old tars pad with leading spaces or NULs and end a field with either.
  let i = 0;
  while (i < field.length && (field[i] === 0x20 || field[i] === 0)) i++;
  let n = 0;
  for (; i < field.length && field[i] !== 0x20 && field[i] !== 0; i++) {
    const digit = field[i]! - 0x30;
    if (digit < 0 || digit > 7) return undefined;
    n = n * 8 + digit;
  }
  return n;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space === -1) break;
    const len = Number(data.toString('latin1', at, space));
    if (!Number.isInteger(len) || len <= 0) break;
    const record = data.toString('utf8', space + 1, at + len - 1);
    const eq = record.indexOf('=');
    if (eq !== -1) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += len;
  }
  return out;
}

/** A member name as image tars use it: relative, normalised, without a leading "./" or "/" or a trailing "/". */
export function memberName(name: string): string {
  return posix.normalize(name).replace(/^(\.\/)+|^\/+/, '').replace(/\/$/, '');
}

interface IndexedMember {
  offset: number;
  size: number;
  type: TarEntryType;
  linkname: string;
}

/**
 * A tar file's regular members, and symlinks between them (`docker save` writes those for repeated layers), indexed
 * by one pass over the headers; a member's content is read from the file only when asked for.
 */
export class TarFile {
  private constructor(
    private readonly path: string,
    private readonly members: Map<string, IndexedMember>,
  ) {}

  /** Rejects with the file system's error when there is no such file, and with a TarError when it is no tar. */
  static async open(file: string): Promise<TarFile> {
    const path = resolve(file);
    const handle = await fs.open(path, 'r');
    const members = new Map<string, IndexedMember>();
    try {
      const { size } = await handle.stat();
      for await (const m of readTar(fileSource(handle, size, path), { where: path })) {
        if (isRegularFile(m) || m.type === 'symlink') members.set(memberName(m.name), { offset: m.offset, size: m.size, type: m.type, linkname: m.linkname });
      }
    } finally {
      await handle.close();
    }
    return new TarFile(path, members);
  }

  /** A member's content, following symlinks between members; undefined when there is no such file. */
  async read(name: string): Promise<Uint8Array | undefined> {
    let m = this.members.get(name);
    for (let hops = 0; m?.type === 'symlink' && hops < 10; hops++) {
      name = memberName(posix.join(posix.dirname(name), m.linkname));
      m = this.members.get(name);
    }
    if (m === undefined || m.type === 'symlink') return undefined;
    if (m.size > bufferConstants.MAX_LENGTH) throw new TarError('too-large', `expected at most ${bufferConstants.MAX_LENGTH} bytes per file in ${this.path}, found ${name} of ${m.size} bytes`);
    const handle = await fs.open(this.path, 'r');
    try {
      return await readAt(handle, m.offset, m.size, this.path);
    } finally {
      await handle.close();
    }
  }

  /** Whether the archive holds a regular file (or a link to one) of that name. */
  has(name: string): boolean {
    return this.members.has(name);
  }

  async text(name: string): Promise<string | undefined> {
    const bytes = await this.read(name);
    return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
  }
}
