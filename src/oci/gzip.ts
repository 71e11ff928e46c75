/**
 * Fixed gzip settings for layer blobs.
 *
 * Node's zlib writes a 10-byte header with no file name, no comment, no header CRC and MTIME 0 — nothing taken
 * from the input or the clock. XFL is a function of the level (0 for level 6; 2 would mean level 9). The one
 * byte that depends on the host is OS: zlib fills it from the platform it was compiled for (3 = Unix on Linux,
 * but 19 on macOS and 10 on Windows builds), so it is overwritten with 3 here. The header carries no CRC of
 * itself (FHCRC is off), so patching that byte keeps the stream valid.
 *
 * The deflate stream itself is a function of the zlib implementation: Node bundles Chromium's zlib, whose output
 * differs from stock zlib's for the same level (checked: levels 6 and 9 on the same input give different bytes than
 * Debian's zlib 1.2.13). Compressed bytes are therefore reproducible for a given Node zlib, which is why
 * `GZIP_SETTINGS` names its version: it belongs in any cache key for compressed layers. The diff_id, the SHA-256
 * of the uncompressed tar, does not depend on any of this.
 */
import { createHash } from 'node:crypto';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, constants } from 'node:zlib';
import { PithError } from '../errors.ts';
import type { Digest } from './digest.ts';

/**
 * zlib's default level. Level 9 was measured on this Node (Chromium zlib) at 7x the time for 0.9% fewer bytes on a
 * 55 MB Python-stdlib-and-zoneinfo tar (16.1 s vs 2.3 s), and 3.4x for 0.3% on 300 MB of binaries: a cold build
 * would spend most of its time there for nothing a user notices.
 */
export const GZIP_LEVEL = 6;

/** Identifies everything that determines the compressed bytes besides the input. */
export const GZIP_SETTINGS = `node-zlib-${process.versions.zlib}:level=${GZIP_LEVEL}:os=3`;

/** The header every layer blob starts with: magic, deflate, no flags, MTIME 0, XFL 0 (level 6), OS 3 (Unix). */
export const GZIP_HEADER = Uint8Array.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03]);

const OPTIONS = { level: GZIP_LEVEL, memLevel: 8, windowBits: 15, strategy: constants.Z_DEFAULT_STRATEGY };
function fixHeader(out: Buffer): Uint8Array {
  out[9] = 0x03;
  for (let i = 0; i < GZIP_HEADER.length; i++) {
    if (out[i] !== GZIP_HEADER[i]) {
      throw new PithError('OCI_GZIP_HEADER', `expected zlib to write the gzip header ${Buffer.from(GZIP_HEADER).toString('hex')}, found ${out.subarray(0, 10).toString('hex')} (zlib ${process.versions.zlib})`);
    }
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** What compressing a layer tar as a stream found out on the way. */
export interface CompressedLayer {
  /** SHA-256 of the tar. */
  diffId: Digest;
  uncompressedSize: number;
  /** SHA-256 of the gzip blob. */
  digest: Digest;
  size: number;
}

/**
 * Compresses a tar handed over in pieces into `out`, with the same bytes zlib makes of the whole tar in one call
 * (its output does not depend on how its input is cut: test/oci/gzip.test.ts), hashing the tar and the blob on the way: one pass, and no
 * piece is kept after it has been compressed, so a layer of any size needs a few MiB. `out` is ended.
 */
export async function compressLayer(tar: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, out: Writable): Promise<CompressedLayer> {
  const tarHash = createHash('sha256');
  let uncompressedSize = 0;
  const blobHash = createHash('sha256');
  let size = 0;
  let head: Buffer | undefined = Buffer.alloc(0);
  const hashTar = async function* (source: AsyncIterable<Uint8Array>) {
    for await (const piece of source) {
      tarHash.update(piece);
      uncompressedSize += piece.byteLength;
      yield piece;
    }
  };
  const fixAndHash = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (head !== undefined) {
        // The header is fixed before anything is hashed or written; zlib may hand it out in more than one chunk.
        head = Buffer.concat([head, chunk]);
        if (head.byteLength < GZIP_HEADER.length) return done();
        chunk = Buffer.from(fixHeader(head));
        head = undefined;
      }
      blobHash.update(chunk);
      size += chunk.byteLength;
      done(null, chunk);
    },
  });
  await pipeline(Readable.from(tar, { objectMode: false }), hashTar, createGzip(OPTIONS), fixAndHash, out);
  return { diffId: `sha256:${tarHash.digest('hex')}`, uncompressedSize, digest: `sha256:${blobHash.digest('hex')}`, size };
}
