/**
 * A file's bytes as the build holds them: in memory (small files, and what pith writes itself), or a range of a file
 * on disk — the build's spill file (a `.deb` member the memory budget has no room for) or the host file a spec's
 * `files:` names — read only when a layer is written or a stage needs that very file. So the file tree of an image
 * of many gigabytes costs its metadata in memory, not its contents.
 */
import { constants as bufferConstants } from 'node:buffer';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { PithError } from '../errors.ts';

export type Content = Uint8Array | StoredContent;

export interface StoredContent {
  /** Absolute path of the file holding the bytes. */
  readonly file: string;
  readonly offset: number;
  readonly size: number;
  /**
   * SHA-256 (hex) of the bytes when it was taken as they were stored: always for foreign content; the build's own
   * spill leaves it out (a package's files are compared by it only when two packages ship one path).
   */
  readonly sha256?: string;
  /**
   * The file is not the build's own (a host file a spec names): it may change after it was hashed, so every read
   * checks it against `sha256` and fails rather than put other bytes in an image.
   */
  readonly foreign?: boolean;
}

/**
 * What keeps the contents of files read from a package: in memory, or on disk when they are large or the memory
 * budget is spent (assemble's `Spill`).
 */
export interface ContentKeeper {
  /** Files at least this large are handed over in pieces (`keepPieces`), never whole. */
  readonly largeFile: number;
  /** `transient`: the bytes are only valid during the call (a view of a reader's buffer), so what is kept is a copy. */
  keep(bytes: Uint8Array, options?: { transient?: boolean }): Content;
  keepPieces(pieces: AsyncIterable<Uint8Array>): Promise<StoredContent>;
}

/** The size of the pieces stored content is read in. */
const PIECE = 1 << 20;

export function isStored(c: Content): c is StoredContent {
  return !(c instanceof Uint8Array);
}

export function contentSize(c: Content): number {
  return c instanceof Uint8Array ? c.byteLength : c.size;
}

/** SHA-256 (hex) of the bytes: computed for bytes in memory, known for stored ones. */
export function contentSha256(c: Content): string {
  if (c instanceof Uint8Array) return createHash('sha256').update(c).digest('hex');
  if (c.sha256 !== undefined) return c.sha256;
  const hash = createHash('sha256');
  for (const piece of contentPieces(c)) hash.update(piece);
  return hash.digest('hex');
}

/** Whether two contents hold the same bytes, without reading stored ones when both digests are known. */
export function sameContent(a: Content, b: Content): boolean {
  if (contentSize(a) !== contentSize(b)) return false;
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
  return contentSha256(a) === contentSha256(b);
}

/**
 * The bytes whole, for a stage that reads one file (a zone file, a certificate, an ELF header). Stored content is
 * read synchronously: these are small files, read once.
 */
export function readContent(c: Content): Uint8Array {
  if (c instanceof Uint8Array) return c;
  if (c.size > bufferConstants.MAX_LENGTH) {
    throw new PithError('CONTENT_TOO_LARGE', `expected a file of at most ${bufferConstants.MAX_LENGTH} bytes to read whole, found ${c.size} bytes in ${c.file}`);
  }
  const out = new Uint8Array(c.size);
  let at = 0;
  for (const piece of contentPieces(c)) {
    out.set(piece, at);
    at += piece.byteLength;
  }
  return out;
}

/** The first `n` bytes (fewer for a shorter file): enough to tell what kind of file it is. */
export function contentHead(c: Content, n: number): Uint8Array {
  if (c instanceof Uint8Array) return c.subarray(0, n);
  const out = new Uint8Array(Math.min(n, c.size));
  readExactly(c, 0, out);
  return out;
}

/**
 * The bytes in pieces of at most 1 MiB, each the caller's to keep (a compressor may still hold one when the next
 * is read). Stored content is read with
 * synchronous reads (page-cache speed; a layer writer pulls pieces between its own awaits), and foreign content is
 * hashed on the way: a file that no longer holds what was hashed fails before its last piece is handed out.
 */
export function* contentPieces(c: Content, options: { transient?: boolean } = {}): Generator<Uint8Array> {
  if (c instanceof Uint8Array) {
    yield c;
    return;
  }
  // `transient`: every piece is one buffer read again, for a caller done with each piece before it asks for the next.
  const shared = options.transient ? new Uint8Array(Math.min(PIECE, c.size)) : undefined;
  const hash = c.foreign && c.sha256 !== undefined ? createHash('sha256') : undefined;
  let fd: number;
  try {
    fd = openSync(c.file, 'r');
  } catch (e) {
    throw gone(c, (e as Error).message);
  }
  try {
    for (let at = 0; at < c.size; ) {
      const want = Math.min(PIECE, c.size - at);
      const piece = shared ? shared.subarray(0, want) : new Uint8Array(want);
      let got = 0;
      while (got < want) {
        const n = readSync(fd, piece, got, want - got, c.offset + at + got);
        if (n === 0) throw gone(c, `it ends after ${at + got} of ${c.size} bytes`);
        got += n;
      }
      at += want;
      if (hash) {
        hash.update(piece);
        if (at === c.size && hash.digest('hex') !== c.sha256) throw gone(c, 'its bytes differ from those read before');
      }
      yield piece;
    }
  } finally {
    closeSync(fd);
  }
}

function readExactly(c: StoredContent, from: number, into: Uint8Array): void {
  const fd = openSync(c.file, 'r');
  try {
    for (let got = 0; got < into.byteLength; ) {
      const n = readSync(fd, into, got, into.byteLength - got, c.offset + from + got);
      if (n === 0) throw gone(c, `it ends after ${from + got} bytes`);
      got += n;
    }
  } finally {
    closeSync(fd);
  }
}

function gone(c: StoredContent, why: string): PithError {
  return new PithError(
    'CONTENT_CHANGED',
    `expected ${c.file} to hold the ${c.size} bytes${c.sha256 === undefined ? '' : ` (SHA-256 ${c.sha256})`} read from it earlier in this build, found ${why}${c.foreign ? '; was it changed during the build?' : ''}`,
    { details: { file: c.file, ...(c.sha256 === undefined ? {} : { sha256: c.sha256 }) } },
  );
}
