import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { formatDestination, parseDestination, writeImage } from '../../src/transports/transports.ts';
import { buildImage } from '../../src/oci/image.ts';
import { isPithError, type ErrorCode } from '../../src/errors.ts';
import { sampleEntries, withTempDir } from '../oci/helpers.ts';

test('destinations parse as skopeo names them', () => {
  const cases: Array<[string, unknown]> = [
    ['oci:/out/layout', { transport: 'oci', path: '/out/layout' }],
    ['oci:/out/layout:v1', { transport: 'oci', path: '/out/layout', tag: 'v1' }],
    ['oci:rel:a:b', { transport: 'oci', path: 'rel', tag: 'a:b' }],
    ['oci-archive:img.tar:latest', { transport: 'oci-archive', path: 'img.tar', tag: 'latest' }],
    ['docker-archive:d.tar', { transport: 'docker-archive', path: 'd.tar' }],
    ['docker-archive:d.tar:app:1.0', { transport: 'docker-archive', path: 'd.tar', reference: 'app:1.0' }],
    ['docker-archive:d.tar:localhost:5000/team/app:1', { transport: 'docker-archive', path: 'd.tar', reference: 'localhost:5000/team/app:1' }],
    ['docker://127.0.0.1:5000/team/app:1', { transport: 'docker', reference: '127.0.0.1:5000/team/app:1' }],
    [`docker://app@sha256:${'0'.repeat(64)}`, { transport: 'docker', reference: `app@sha256:${'0'.repeat(64)}` }],
  ];
  for (const [text, expected] of cases) {
    assert.deepEqual(parseDestination(text), expected, text);
    assert.equal(formatDestination(parseDestination(text)), text);
  }
});

test('unknown transports and malformed destinations say what was expected', () => {
  const cases: Array<[string, ErrorCode, RegExp]> = [
    ['/just/a/path', 'OCI_UNKNOWN_TRANSPORT', /oci:DIR\[:TAG\].*no transport prefix/],
    ['dir:/x', 'OCI_UNKNOWN_TRANSPORT', /found "dir:\/x"/],
    ['docker:registry/x:1', 'OCI_BAD_DESTINATION', /expected "docker:\/\/"/],
    ['docker://Registry/X:1', 'OCI_BAD_REFERENCE', /lower-case/],
    ['oci:', 'OCI_BAD_DESTINATION', /expected a path after "oci:"/],
    ['oci:/x:', 'OCI_BAD_DESTINATION', /expected a tag/],
    ['oci:/x:bad tag', 'OCI_BAD_TAG', /"bad tag"/],
    ['docker-archive:d.tar:UPPER', 'OCI_BAD_REFERENCE', /"UPPER"/],
  ];
  for (const [text, code, message] of cases) {
    assert.throws(() => parseDestination(text), (e) => isPithError(e, code) && message.test(e.message), text);
  }
});

test('writeImage writes every transport from one image', async () => {
  await withTempDir(async (dir) => {
    const img = await buildImage({ layers: [{ entries: sampleEntries() }], config: { architecture: 'amd64', os: 'linux' }, sourceDateEpoch: 1_700_000_000 });
    for (const d of [`oci:${join(dir, 'layout')}:v1`, `oci-archive:${join(dir, 'o.tar')}:v1`, `docker-archive:${join(dir, 'd.tar')}:x:1`]) await writeImage(d, img);
    assert.deepEqual((await readdir(dir)).sort(), ['d.tar', 'layout', 'o.tar']);
  });
});
