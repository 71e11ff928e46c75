/**
 * Reads a .deb in memory: the `ar` container (written here, as the format is tiny), the control area and the data
 * tar, decompressed as a stream so a hostile package hits the size and entry limits before it can exhaust memory.
 * Nothing is ever written to the host: entries come back as FsEntry values for the image tree.
 */
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { PithError } from '../errors.ts';
import type { FsEntry } from '../fs/entry.ts';
import type { Content, ContentKeeper } from '../fs/content.ts';
import { isRegularFile, readTar, readUpTo, streamSource, TarError, type TarEntry, type TarHeader } from '../fs/tar.ts';
import { normalisePath } from '../fs/tree.ts';
import { parseDeb822 } from './deb822.ts';
import { unxzStream } from './xz.ts';

export interface DebLimits {
  /** Bytes of control.tar plus data.tar after decompression (default 4 GiB). */
  maxUncompressed?: number;
  /** Tar entries in control.tar plus data.tar (default 1,000,000). */
  maxEntries?: number;
}

export const DEFAULT_DEB_LIMITS: Readonly<Required<DebLimits>> = Object.freeze({
  maxUncompressed: 4 * 1024 ** 3,
  maxEntries: 1_000_000,
});

export interface Deb {
  /** The control file's fields, names lower-cased. */
  control: Record<string, string>;
  /**
   * Every file of the control area by name: control, md5sums, conffiles, postinst, preinst, prerm, postrm, triggers, …
   * In memory, or where the reader's `keeper` put them (a large image's md5sums add up to tens of MB).
   */
  controlFiles: Map<string, Content>;
  /** data.tar in archive order; paths normalised and absolute, `/` itself left out. */
  entries: FsEntry[];
}

export interface ArMember {
  name: string;
  /** Byte offset of the member's header in the archive, for error messages. */
  offset: number;
  data: Uint8Array;
}

type Compression = 'none' | 'gzip' | 'xz' | 'zstd';

const COMPRESSIONS: Record<string, Compression> = { '': 'none', '.gz': 'gzip', '.xz': 'xz', '.zst': 'zstd' };
/** Valid in old or foreign debs but not supported here; named so the error says so rather than "unexpected member". */
const REFUSED = new Map([['.bz2', 'bzip2'], ['.lzma', 'lzma']]);

const AR_MAGIC = '!<arch>\n';
const AR_HEADER = 60;

const latin1 = (b: Uint8Array, start = 0, end = b.length) => Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');

function malformed(where: string, message: string, cause?: unknown): PithError {
  return new PithError('DEB_MALFORMED', `${where}: ${message}`, { cause, details: { deb: where } });
}

/** One member of an ar archive, read whole (`read`) or as a stream (`stream`), from memory or from a file. */
interface ArEntry {
  name: string;
  /** Byte offset of the member's header in the archive, for error messages. */
  offset: number;
  size: number;
  read(): Promise<Uint8Array>;
  stream(): AsyncIterable<Uint8Array>;
}

/** The name and size in a member header at `pos`; `bytes` are its 60 bytes (fewer when the archive ends first). */
function arHeader(bytes: Uint8Array, pos: number, where: string): { name: string; size: number } {
  if (bytes.length < AR_HEADER) {
    throw malformed(where, `expected a ${AR_HEADER}-byte ar member header at offset ${pos}, found only ${bytes.length} bytes (truncated?)`);
  }
  if (bytes[58] !== 0x60 || bytes[59] !== 0x0a) {
    throw malformed(where, `expected an ar member header ending in "\`\\n" at offset ${pos}, found ${JSON.stringify(latin1(bytes, 58, 60))}`);
  }
  const name = latin1(bytes, 0, 16).trimEnd().replace(/\/$/, '');
  const sizeField = latin1(bytes, 48, 58).trim();
  if (!/^\d+$/.test(sizeField)) {
    throw malformed(where, `expected a decimal size for ar member ${JSON.stringify(name)} at offset ${pos}, found ${JSON.stringify(sizeField)}`);
  }
  return { name, size: Number(sizeField) };
}

function truncatedMember(where: string, name: string, start: number, size: number, found: number): PithError {
  return malformed(where, `expected ${size} bytes of ar member ${JSON.stringify(name)} at offset ${start}, found only ${found} (truncated?)`);
}

/** Splits an ar archive into its members (the common System V/GNU format dpkg-deb writes; no long-name table). */
export function parseAr(bytes: Uint8Array, where: string): ArMember[] {
  if (bytes.length < AR_MAGIC.length || latin1(bytes, 0, AR_MAGIC.length) !== AR_MAGIC) {
    throw malformed(where, `expected an ar archive starting with "!<arch>\\n", found ${JSON.stringify(latin1(bytes, 0, Math.min(bytes.length, 8)))}`);
  }
  const members: ArMember[] = [];
  let pos = AR_MAGIC.length;
  while (pos < bytes.length) {
    const { name, size } = arHeader(bytes.subarray(pos, pos + AR_HEADER), pos, where);
    const start = pos + AR_HEADER;
    if (start + size > bytes.length) throw truncatedMember(where, name, start, size, bytes.length - start);
    members.push({ name, offset: pos, data: bytes.subarray(start, start + size) });
    pos = start + size + (size & 1);
  }
  return members;
}

function entriesOf(bytes: Uint8Array, where: string): ArEntry[] {
  return parseAr(bytes, where).map((m) => ({
    name: m.name,
    offset: m.offset,
    size: m.data.byteLength,
    read: async () => m.data,
    stream: async function* () {
      yield m.data;
    },
  }));
}

/** The members of an ar archive in a file, by their headers alone: content is read when a member is used. */
async function entriesOfFile(handle: FileHandle, path: string, where: string): Promise<ArEntry[]> {
  const length = (await handle.stat()).size;
  const readAt = (position: number, size: number) => readUpTo(handle, position, size);
  const magic = await readAt(0, AR_MAGIC.length);
  if (latin1(magic) !== AR_MAGIC) throw malformed(where, `expected an ar archive starting with "!<arch>\\n", found ${JSON.stringify(latin1(magic))}`);
  const members: ArEntry[] = [];
  for (let pos = AR_MAGIC.length; pos < length; ) {
    const { name, size } = arHeader(await readAt(pos, AR_HEADER), pos, where);
    const start = pos + AR_HEADER;
    if (start + size > length) throw truncatedMember(where, name, start, size, length - start);
    members.push({
      name,
      offset: pos,
      size,
      read: async () => {
        const data = await readAt(start, size);
        if (data.byteLength < size) throw truncatedMember(where, name, start, size, data.byteLength);
        return data;
      },
      stream: () => (size === 0 ? [] : createReadStream(path, { start, end: start + size - 1, highWaterMark: 1 << 20 })) as AsyncIterable<Uint8Array>,
    });
    pos = start + size + (size & 1);
  }
  return members;
}

interface Budget {
  limits: Required<DebLimits>;
  bytes: number;
  entries: number;
  /** Why maxUncompressed is what it is, when the package's Installed-Size lowered it. */
  why?: string;
}

/**
 * A data.tar is about as large as the Installed-Size its control file declares: tar headers and padding included,
 * real packages stay within a few percent of it. Twice that plus this slack bounds a member that would decompress
 * to far more (a decompression bomb) long before the absolute limit.
 */
const INSTALLED_SIZE_FACTOR = 2;
const INSTALLED_SIZE_SLACK = 1 << 20;

/**
 * Reads a .deb held in memory. `where` names it in every error (its path or `package_version_arch.deb`).
 * Member rules follow dpkg-deb: `debian-binary` first with format 2.x, then `control.tar*`, then `data.tar*`;
 * members starting with `_` (signatures) are skipped and anything after data.tar is ignored.
 */
export async function readDeb(bytes: Uint8Array, where: string, limits: DebLimits = {}, keeper?: ContentKeeper): Promise<Deb> {
  return readMembers(entriesOf(bytes, where), where, limits, keeper);
}

/**
 * `readDeb` for a .deb in a file (the cache's, verified): only the control area is read whole; the data member is
 * streamed from the file into its decompressor, so a package of any size costs a few MiB while it is read.
 */
export async function readDebFile(path: string, where: string, limits: DebLimits = {}, keeper?: ContentKeeper): Promise<Deb> {
  const handle = await open(path, 'r');
  try {
    return await readMembers(await entriesOfFile(handle, path, where), where, limits, keeper);
  } finally {
    await handle.close();
  }
}

async function readMembers(members: ArEntry[], where: string, limits: DebLimits, keeper: ContentKeeper | undefined): Promise<Deb> {
  const budget: Budget = { limits: { ...DEFAULT_DEB_LIMITS, ...limits }, bytes: 0, entries: 0 };
  const first = members[0];
  if (first === undefined || first.name !== 'debian-binary') {
    throw malformed(where, `expected "debian-binary" as the first ar member, found ${first === undefined ? 'no members' : JSON.stringify(first.name)}`);
  }
  const version = latin1(await first.read());
  // dpkg-deb accepts any 2.x and ignores the rest of the member.
  if (!/^2\.\d+\n/.test(version)) {
    throw malformed(where, `expected debian-binary to hold format "2.0\\n", found ${JSON.stringify(version.slice(0, 16))}`);
  }
  let control: ArEntry | undefined;
  let data: ArEntry | undefined;
  for (const m of members.slice(1)) {
    if (m.name.startsWith('_')) continue;
    const kind = /^(control|data)\.tar(\.[a-z0-9]+)?$/.exec(m.name);
    if (kind !== null && REFUSED.has(kind[2] ?? '')) {
      throw new PithError(
        'DEB_UNSUPPORTED_COMPRESSION',
        `${where}: ${m.name} is compressed with ${REFUSED.get(kind[2]!)}; expected none, gzip, xz or zstd (what dpkg-deb builds today)`,
        { details: { deb: where, member: m.name } },
      );
    }
    if (kind === null || COMPRESSIONS[kind[2] ?? ''] === undefined) {
      throw malformed(where, `expected control.tar{,.gz,.xz,.zst} then data.tar{,.gz,.xz,.zst}, found ar member ${JSON.stringify(m.name)} at offset ${m.offset}`);
    }
    if (kind[1] === 'control') {
      if (control !== undefined) throw malformed(where, `expected one control member, found ${control.name} and ${m.name}`);
      control = m;
    } else {
      if (control === undefined) throw malformed(where, `expected the control member before ${m.name}, found none`);
      data = m;
      break;
    }
  }
  if (control === undefined || data === undefined) {
    throw malformed(where, `expected control.tar* and data.tar* members, found ${members.map((m) => m.name).join(', ')}`);
  }

  const controlFiles = new Map<string, Content>();
  let controlText: Uint8Array | undefined;
  await readMember(control, where, budget, async (h) => {
    const path = safePath(h.name, where, control!.name);
    if (h.type === 'directory') return;
    if (path === '/') throw malformed(where, `${control!.name}: expected the root entry to be a directory, found ${kindOf(h)}`);
    if (!isRegularFile(h)) throw unsupported(where, control!.name, h, path);
    const bytes = await h.content();
    if (path === '/control') controlText = bytes;
    controlFiles.set(path.slice(1), keeper === undefined ? bytes : keeper.keep(bytes));
  });
  if (controlText === undefined) {
    throw malformed(where, `expected a "control" file in ${control.name}, found ${[...controlFiles.keys()].join(', ') || 'nothing'}`);
  }
  let stanzas;
  try {
    stanzas = parseDeb822(new TextDecoder().decode(controlText), { source: `${where}: control` });
  } catch (e) {
    throw malformed(where, `expected a valid control file: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  if (stanzas.length !== 1) throw malformed(where, `expected one paragraph in the control file, found ${stanzas.length}`);
  const declared = stanzas[0]!.fields['installed-size'];
  if (declared !== undefined && /^\d+$/.test(declared)) {
    const cap = budget.bytes + Number(declared) * 1024 * INSTALLED_SIZE_FACTOR + INSTALLED_SIZE_SLACK;
    if (cap < budget.limits.maxUncompressed) {
      budget.limits.maxUncompressed = cap;
      budget.why = `twice its Installed-Size of ${declared} KiB, plus 1 MiB`;
    }
  }

  const entries: FsEntry[] = [];
  /** What each path is so far, so a hardlink can be checked against what came before it. */
  const seen = new Map<string, FsEntry>();
  await readMember(data, where, budget, async (h) => {
    const path = safePath(h.name, where, data!.name);
    if (path === '/' && h.type !== 'directory') {
      throw malformed(where, `${data!.name}: expected the root entry ${JSON.stringify(h.name)} to be a directory, found ${kindOf(h)}`);
    }
    const common = { path, uid: h.uid, gid: h.gid, mtime: h.mtime };
    const mode = h.mode;
    let entry: FsEntry;
    switch (h.type) {
      case 'directory':
        if (path === '/') return;
        entry = { type: 'dir', ...common, mode };
        break;
      case 'file':
      case 'contiguous-file':
        entry = { type: 'file', ...common, mode, content: await fileContent(h, keeper) };
        break;
      case 'symlink':
        if (!h.linkname) throw malformed(where, `${data!.name}: expected a target for symlink ${path}, found none`);
        entry = { type: 'symlink', ...common, target: h.linkname };
        break;
      case 'link': {
        const target = safePath(h.linkname ?? '', where, data!.name);
        const to = seen.get(target);
        if (to?.type !== 'file' && to?.type !== 'hardlink') {
          throw malformed(
            where,
            `${data!.name}: expected hardlink ${path} to name a file earlier in the archive, found ${to === undefined ? 'nothing' : `a ${to.type}`} at ${target}`,
          );
        }
        entry = { type: 'hardlink', ...common, target: to.type === 'hardlink' ? to.target : target };
        break;
      }
      default:
        throw unsupported(where, data!.name, h, path);
    }
    seen.set(path, entry);
    entries.push(entry);
  });
  return { control: stanzas[0]!.fields, controlFiles, entries };
}

function safePath(name: string, where: string, member: string): string {
  try {
    return normalisePath(name);
  } catch {
    throw new PithError('DEB_UNSAFE_PATH', `${where}: ${member}: expected entry paths inside the filesystem root, found ${JSON.stringify(name)}, which climbs above it`, {
      details: { deb: where, entry: name },
    });
  }
}

function kindOf(h: TarHeader): string {
  return h.type === 'character-device' || h.type === 'block-device' ? `a ${h.type} (${h.devmajor}:${h.devminor})`
    : h.type === 'fifo' ? 'a FIFO'
    : h.type === 'unknown' ? `an entry of unknown type ${JSON.stringify(h.typeflag)}` : `a ${h.type}`;
}

function unsupported(where: string, member: string, h: TarHeader, path: string): PithError {
  return new PithError(
    'DEB_UNSUPPORTED_ENTRY',
    `${where}: ${member}: ${path} is ${kindOf(h)}; expected files, directories, symlinks or hardlinks (pith images carry no device nodes, FIFOs or sockets)`,
    { details: { deb: where, entry: h.name, type: h.type } },
  );
}

/** A file's content: in memory, or where `keeper` puts it (a large file streamed there, never held whole). */
async function fileContent(entry: TarEntry, keeper: ContentKeeper | undefined): Promise<Content> {
  if (keeper === undefined) return entry.content();
  if (entry.size >= keeper.largeFile) return keeper.keepPieces(entry.chunks());
  // A view of the decompressor's buffer where the file lies in one piece: the keeper copies it (to disk, mostly), so
  // a file costs no allocation of its own.
  return keeper.keep(await entry.content({ transient: true }), { transient: true });
}

/** Decompresses one tar member as a stream and hands each entry to `onEntry`, which may read its content. */
async function readMember(member: ArEntry, where: string, budget: Budget, onEntry: (entry: TarEntry) => Promise<void>): Promise<void> {
  const compression = COMPRESSIONS[/\.tar(\.[a-z0-9]+)?$/.exec(member.name)?.[1] ?? '']!;
  try {
    for await (const entry of readTar(streamSource(bounded(await decompress(compression, member), member.name, where, budget)), { where: member.name })) {
      if (++budget.entries > budget.limits.maxEntries) {
        throw new PithError(
          'DEB_TOO_LARGE',
          `${where}: expected at most ${budget.limits.maxEntries} tar entries, found more in ${member.name} (at ${JSON.stringify(entry.name)})`,
          { details: { deb: where, member: member.name, limit: budget.limits.maxEntries } },
        );
      }
      await onEntry(entry);
    }
  } catch (e) {
    if (e instanceof PithError) throw e;
    if (e instanceof TarError && e.reason === 'too-large') {
      throw new PithError('DEB_TOO_LARGE', `${where}: ${e.message}`, { cause: e, details: { deb: where, member: member.name } });
    }
    if (e instanceof TarError) throw malformed(where, e.message, e);
    throw malformed(where, `expected a valid ${member.name}, found: ${e instanceof Error ? e.message : String(e)}`, e);
  }
}

async function* bounded(chunks: AsyncIterable<Uint8Array>, member: string, where: string, budget: Budget): AsyncGenerator<Uint8Array> {
  for await (const chunk of chunks) {
    budget.bytes += chunk.byteLength;
    if (budget.bytes > budget.limits.maxUncompressed) {
      throw new PithError(
        'DEB_TOO_LARGE',
        `${where}: expected at most ${budget.limits.maxUncompressed} bytes of uncompressed control and data${budget.why ? ` (${budget.why})` : ''}, found more while reading ${member} (a decompression bomb?)`,
        { details: { deb: where, member, limit: budget.limits.maxUncompressed } },
      );
    }
    yield chunk;
  }
}

async function decompress(compression: Compression, member: ArEntry): Promise<AsyncIterable<Uint8Array>> {
  switch (compression) {
    case 'none':
      return member.stream();
    case 'gzip':
      return gunzip(member.stream());
    case 'xz':
      return unxzStream(member.stream(), { inputBytes: member.size });
    case 'zstd':
      // Read whole: its frame headers are checked before fzstd allocates what they ask for (and Debian's own
      // archive compresses with xz).
      return unzstd(await member.read());
  }
}

async function* gunzip(data: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const gz = createGunzip();
  // zlib honours back-pressure, so output is produced only as fast as the tar is read.
  const feeding = pipeline(Readable.from(data, { objectMode: false }), gz).catch(() => {});
  try {
    for await (const chunk of gz) yield chunk as Buffer;
  } finally {
    gz.destroy();
    await feeding;
  }
}

/**
 * zstd's own decoder refuses frames whose window exceeds 128 MiB unless told otherwise (ZSTD_WINDOWLOG_LIMIT_DEFAULT);
 * fzstd would allocate whatever a frame header asks, up to 2 GiB, before the size limit sees a byte. Walking the
 * frame and block headers costs a few reads per 128 KiB block; anything malformed is left for fzstd to report.
 */
const ZSTD_MAX_WINDOW = 2 ** 27;

function checkZstdWindows(data: Uint8Array): void {
  const u32 = (p: number) => (data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16)) + data[p + 3]! * 2 ** 24;
  let at = 0;
  while (at + 8 <= data.length) {
    const magic = u32(at);
    if (magic >= 0x184d2a50 && magic <= 0x184d2a5f) {
      at += 8 + u32(at + 4); // a skippable frame
      continue;
    }
    if (magic !== 0xfd2fb528) return;
    const fhd = data[at + 4]!;
    const single = (fhd >> 5) & 1;
    let p = at + 5;
    let window = 0;
    if (!single) {
      const wd = data[p++]!;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    p += [0, 1, 2, 4][fhd & 3]!;
    const fcsBytes = fhd >> 6 ? 1 << (fhd >> 6) : single;
    if (single) {
      for (let i = fcsBytes - 1; i >= 0; i--) window = window * 256 + (data[p + i] ?? 0);
      if (fcsBytes === 2) window += 256;
    }
    if (window > ZSTD_MAX_WINDOW) {
      throw new Error(`zstd frame at byte ${at} needs a ${window}-byte window; expected at most ${ZSTD_MAX_WINDOW} (zstd's own default limit)`);
    }
    p += fcsBytes;
    for (let last = 0; !last; ) {
      if (p + 3 > data.length) return;
      const header = data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16);
      last = header & 1;
      p += 3 + (((header >> 1) & 3) === 1 ? 1 : header >>> 3);
    }
    at = p + ((fhd >> 2) & 1) * 4;
  }
}

async function* unzstd(data: Uint8Array): AsyncGenerator<Uint8Array> {
  // fzstd is pure JavaScript, so installing pith compiles nothing. It hands out whole blocks (at most 128 KiB) as
  // its input completes them; feeding it 1 KiB at a time caps what one step can produce (a 4-byte RLE block is
  // 128 KiB, so at most 32 MiB) before the size limit downstream sees it, and costs next to nothing, as it queues
  // input until a block is whole.
  const STEP = 1024;
  let out: Uint8Array[] = [];
  const dec = new ZstdDecompress((chunk) => {
    if (chunk.byteLength > 0) out.push(chunk);
  });
  if (data.byteLength === 0) throw new Error('zstd stream is empty');
  checkZstdWindows(data);
  for (let at = 0; at < data.byteLength; at += STEP) {
    try {
      dec.push(data.subarray(at, at + STEP), at + STEP >= data.byteLength);
    } catch (e) {
      // fzstd reports a stream cut short as "unexpected EOF" (its code 5).
      if ((e as { code?: number }).code === 5) throw new Error('zstd stream ends in the middle of a frame (truncated?)', { cause: e });
      throw e;
    }
    const ready = out;
    out = [];
    yield* ready;
  }
}
