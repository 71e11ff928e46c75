/**
 * Blobs as streams: how every writer and reader of an image gets a layer's bytes without holding them whole (a
 * layer may be larger than the biggest buffer Node can make). A layer's `stream()` is used whenever it has one,
 * else its `bytes()` as one piece; blobs read back from disk are checked against their descriptor as they are
 * read; a layer's tar is decompressed as it arrives and checked against its diff_id.
 */
import { constants as bufferConstants } from 'node:buffer';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, type Gunzip } from 'node:zlib';
import { PithError, type ErrorCode } from '../errors.ts';
import { concat } from '../fs/tar.ts';
import { compressLayer } from './gzip.ts';
import { isGzipLayer, MediaType, type Descriptor, type Digest } from './digest.ts';
import type { Layer } from './image.ts';

/** Pieces a file is read in. */
const PIECE = 1 << 20;

/** The layer's compressed bytes, streamed when the layer can (`Layer.stream`), else its `bytes()` as one piece. */
export async function* layerChunks(l: Pick<Layer, 'bytes' | 'stream'>): AsyncGenerator<Uint8Array> {
  if (l.stream) yield* l.stream();
  else yield await l.bytes();
}

/** `size` bytes of a file from `offset` (the whole file by default), in pieces of 1 MiB. */
export async function* fileChunks(path: string, range: { offset: number; size: number } | undefined = undefined): AsyncGenerator<Uint8Array> {
  if (range !== undefined && range.size === 0) return;
  const options = range === undefined ? {} : { start: range.offset, end: range.offset + range.size - 1 };
  for await (const chunk of createReadStream(path, { highWaterMark: PIECE, ...options })) yield chunk as Buffer;
}

/** Refuses (CONTENT_TOO_LARGE) to read whole a blob larger than the biggest buffer Node can make. */
export function holdable(d: Pick<Descriptor, 'digest' | 'size'>, where: string): void {
  if (d.size > bufferConstants.MAX_LENGTH) {
    throw new PithError('CONTENT_TOO_LARGE', `expected a blob of at most ${bufferConstants.MAX_LENGTH} bytes to read whole, found ${d.digest} of ${d.size} bytes in ${where}; only a stream can carry it`);
  }
}

/** The pieces in one new array, for bytes known to be small enough to hold. */
export async function gatherChunks(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const out: Uint8Array[] = [];
  for await (const c of chunks) out.push(c);
  return concat(out);
}

/** The SHA-256 and length of bytes handed over in pieces. */
export async function hashChunks(chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<{ digest: Digest; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const c of chunks) {
    hash.update(c);
    size += c.byteLength;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/**
 * The pieces as they come, hashed on the way: the iteration throws `code` as soon as more than `d.size` bytes
 * arrive, and before the last piece is handed out unless the bytes are exactly what `d` names — so a consumer
 * that stores them never completes with other bytes (what `Layer.stream` promises).
 */
export async function* checkedChunks(chunks: AsyncIterable<Uint8Array>, d: Pick<Descriptor, 'digest' | 'size'>, code: ErrorCode, where: string): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256');
  let size = 0;
  const mismatch = (found: string) => new PithError(code, `expected ${d.digest} (${d.size} bytes) from ${where}, found ${found}`, { details: { expected: d.digest, where } });
  const found = () => `sha256:${hash.copy().digest('hex')}`;
  for await (const c of chunks) {
    size += c.byteLength;
    if (size > d.size) throw mismatch(`more than ${d.size} bytes`);
    hash.update(c);
    if (size === d.size && found() !== d.digest) throw mismatch(`${found()} (${size} bytes)`);
    yield c;
  }
  if (size !== d.size || found() !== d.digest) throw mismatch(`${found()} (${size} bytes)`);
}

/**
 * A layer's uncompressed tar in pieces, decompressed as the blob arrives, hashed on the way and checked against its
 * diff_id when it ends (the blob itself is checked by the layer's stream, or by the transport that made its bytes).
 * `where` names the layer in errors, e.g. "layer 2 (sha256:…) of oci:out".
 */
export async function* layerTarChunks(l: Pick<Layer, 'mediaType' | 'digest' | 'diffId' | 'bytes' | 'stream'>, where: string): AsyncGenerator<Uint8Array> {
  const gzip = isGzipLayer(l.mediaType);
  if (!gzip && l.mediaType !== MediaType.layerTar) {
    throw new PithError('OCI_LAYER_MEDIA_TYPE', `expected a gzip or uncompressed tar layer for ${where}, found ${l.mediaType}`);
  }
  const hash = createHash('sha256');
  let size = 0;
  let gunzip: Gunzip | undefined;
  if (gzip) {
    gunzip = createGunzip();
    // A failure of the blob's stream destroys the gunzip stream with it, and so ends the loop below with it.
    pipeline(Readable.from(layerChunks(l), { objectMode: false }), gunzip).catch(() => undefined);
  }
  const source: AsyncIterable<Uint8Array> = gunzip ?? layerChunks(l);
  try {
    for await (const chunk of source) {
      const c = chunk as Uint8Array;
      hash.update(c);
      size += c.byteLength;
      yield c;
    }
  } catch (e) {
    // zlib's own errors (not gzip, a bad CRC, cut short) are the layer's; the blob's stream throws its own.
    if ((e as NodeJS.ErrnoException).code?.startsWith('Z_')) {
      throw new PithError('OCI_LAYER_MISMATCH', `expected ${where} to be gzip, found ${(e as Error).message}`, { cause: e });
    }
    throw e;
  } finally {
    gunzip?.destroy();
  }
  const diffId = `sha256:${hash.digest('hex')}`;
  if (diffId !== l.diffId) {
    throw new PithError('OCI_LAYER_MISMATCH', `expected ${where} to decompress to its diff_id ${l.diffId}, found ${diffId} (${size} bytes)`);
  }
}

/** A layer tar compressed as it is read (`compressLayer`: the same bytes however the tar is cut). */
export async function* gzipChunks(tar: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const out = new PassThrough();
  const done = compressLayer(tar, out);
  // Its failure ends the loop below (the pipeline destroys `out` with it) and is rethrown after it.
  done.catch(() => undefined);
  try {
    for await (const c of out) yield c as Uint8Array;
    await done;
  } finally {
    // A reader that stops early stops the compression and closes what it reads.
    out.destroy();
  }
}
