import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { GZIP_HEADER, GZIP_SETTINGS, gzipLayer, gzipLayerSync } from '../../src/oci/gzip.ts';
import { layerTar } from '../../src/oci/tar.ts';
import { sampleEntries } from './helpers.ts';

test('the gzip header is fixed: no name, MTIME 0, XFL 0 (level 6), OS 3 (Unix)', async () => {
  const tar = layerTar(sampleEntries(), { sourceDateEpoch: 1_700_000_000 });
  const gz = await gzipLayer(tar);
  assert.equal(Buffer.from(gz.subarray(0, 10)).toString('hex'), '1f8b0800000000000003');
  assert.deepEqual([...gz.subarray(0, 10)], [...GZIP_HEADER]);
  assert.equal(gz[3], 0, 'FLG: no FNAME, FCOMMENT, FEXTRA or FHCRC');
  assert.ok(Buffer.from(gunzipSync(gz)).equals(Buffer.from(tar)), 'round trip');
});

test('sync and thread-pool compression give identical bytes, every time', async () => {
  const tar = layerTar(sampleEntries(), { sourceDateEpoch: 1_700_000_000 });
  const a = gzipLayerSync(tar);
  const [b, c] = await Promise.all([gzipLayer(tar), gzipLayer(tar)]);
  assert.ok(Buffer.from(a).equals(Buffer.from(b!)));
  assert.ok(Buffer.from(a).equals(Buffer.from(c!)));
});

test('an empty input still gets the fixed header', () => {
  assert.deepEqual([...gzipLayerSync(new Uint8Array()).subarray(0, 10)], [...GZIP_HEADER]);
});

test('the settings string names the zlib that determines the compressed bytes', () => {
  assert.match(GZIP_SETTINGS, new RegExp(`^node-zlib-${process.versions.zlib.replace(/[.+-]/g, '\\$&')}:level=6:os=3$`));
});
