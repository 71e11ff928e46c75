import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { compressLayer, GZIP_HEADER, GZIP_SETTINGS } from '../../src/oci/gzip.ts';
import { layerTar } from '../../src/oci/tar.ts';
import { sampleEntries } from './helpers.ts';

/** The tar compressed by `compressLayer`, handed over cut into pieces of `sizes` (cycled), and what it reported. */
async function compressed(tar: Uint8Array, sizes: number[]) {
  const pieces: Uint8Array[] = [];
  for (let at = 0, i = 0; at < tar.byteLength; i++) {
    const size = sizes[i % sizes.length]!;
    pieces.push(tar.subarray(at, at + size));
    at += size;
  }
  const out: Buffer[] = [];
  const made = await compressLayer(pieces, new Writable({ write: (c: Buffer, _e, done) => (out.push(c), done()) }));
  return { blob: Buffer.concat(out), made };
}

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

test('the gzip header is fixed: no name, MTIME 0, XFL 0 (level 6), OS 3 (Unix)', async () => {
  const tar = layerTar(sampleEntries(), { sourceDateEpoch: 1_700_000_000 });
  const { blob } = await compressed(tar, [tar.byteLength]);
  assert.equal(blob.subarray(0, 10).toString('hex'), '1f8b0800000000000003');
  assert.deepEqual([...blob.subarray(0, 10)], [...GZIP_HEADER]);
  assert.equal(blob[3], 0, 'FLG: no FNAME, FCOMMENT, FEXTRA or FHCRC');
  assert.ok(gunzipSync(blob).equals(Buffer.from(tar)), 'round trip');
});

test('the same bytes as zlib makes of the whole tar in one call, however the tar is cut, with both digests', async () => {
  const tar = layerTar(sampleEntries(), { sourceDateEpoch: 1_700_000_000 });
  const whole = gzipSync(tar, { level: 6 });
  whole[9] = 3;
  for (const sizes of [[tar.byteLength], [1], [512, 7], [4096, 100_000, 3]]) {
    const { blob, made } = await compressed(tar, sizes);
    assert.ok(blob.equals(whole), `pieces of ${sizes.join(', ')} bytes`);
    assert.deepEqual(made, { diffId: sha256(tar), uncompressedSize: tar.byteLength, digest: sha256(whole), size: whole.byteLength });
  }
});

test('an empty input still gets the fixed header', async () => {
  const { blob } = await compressed(new Uint8Array(), [1]);
  assert.deepEqual([...blob.subarray(0, 10)], [...GZIP_HEADER]);
});

test('the settings string names the zlib that determines the compressed bytes', () => {
  assert.match(GZIP_SETTINGS, new RegExp(`^node-zlib-${process.versions.zlib.replace(/[.+-]/g, '\\$&')}:level=6:os=3$`));
});
