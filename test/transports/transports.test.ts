import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatDestination, locateImage, parseDestination, readImage, registryLocation, registryReference, writeImage } from '../../src/transports/transports.ts';
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

test('an image named without a transport is found as skopeo users expect: an existing path, else a registry reference', async () => {
  await withTempDir(async (dir) => {
    const img = await buildImage({ layers: [{ entries: sampleEntries() }], config: { architecture: 'amd64', os: 'linux' }, sourceDateEpoch: 1_700_000_000 });
    await writeImage(`oci:${join(dir, 'out')}:v1`, img);
    await writeImage(`oci-archive:${join(dir, 'o.tar')}:v1`, img);
    await writeImage(`docker-archive:${join(dir, 'd.tar')}:x:1`, img);
    await writeFile(join(dir, 'notes.txt'), 'not an image\n');
    const found: Array<[string, unknown]> = [
      [join(dir, 'out'), { transport: 'oci', path: join(dir, 'out') }],
      [`${join(dir, 'out')}:v1`, { transport: 'oci', path: join(dir, 'out'), tag: 'v1' }],
      [join(dir, 'o.tar'), { transport: 'oci-archive', path: join(dir, 'o.tar') }],
      [`${join(dir, 'o.tar')}:v1`, { transport: 'oci-archive', path: join(dir, 'o.tar'), tag: 'v1' }],
      [join(dir, 'd.tar'), { transport: 'docker-archive', path: join(dir, 'd.tar') }],
      [`${join(dir, 'd.tar')}:x:1`, { transport: 'docker-archive', path: join(dir, 'd.tar'), reference: 'x:1' }],
      [`oci:${join(dir, 'out')}:v1`, { transport: 'oci', path: join(dir, 'out'), tag: 'v1' }],
      ['docker://library/debian', { transport: 'docker', reference: 'library/debian' }],
      // No such path: a registry reference, marked as found so (a failed read then says why it asked a registry).
      ['127.0.0.1:5000/team/app:1', { transport: 'docker', reference: '127.0.0.1:5000/team/app:1', implicit: true }],
      ['library/debian', { transport: 'docker', reference: 'library/debian', implicit: true }],
      [`app@sha256:${'0'.repeat(64)}`, { transport: 'docker', reference: `app@sha256:${'0'.repeat(64)}`, implicit: true }],
    ];
    for (const [text, expected] of found) assert.deepEqual(await locateImage(text), expected, text);
    // Each one reads back as the same image.
    for (const text of [join(dir, 'out'), join(dir, 'o.tar'), `${join(dir, 'o.tar')}:v1`, `${join(dir, 'out')}:v1`]) assert.equal((await readImage(text)).digest, img.digest, text);

    // A bare word that exists here is a path, even when it could be a reference.
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      assert.deepEqual(await locateImage('out'), { transport: 'oci', path: 'out' });
      assert.deepEqual(await locateImage('app'), { transport: 'docker', reference: 'app', implicit: true }, 'no such path: a reference');
      // localhost:5000/app is a reference, until a directory "localhost" is here: then it is that layout's tag.
      assert.equal((await locateImage('localhost:5000/app')).transport, 'docker');
      await writeImage('oci:localhost', img);
      assert.deepEqual(await locateImage('localhost:5000/app'), { transport: 'oci', path: 'localhost', tag: '5000/app' }, 'an existing path wins');
      assert.deepEqual(await locateImage('docker://localhost:5000/app'), { transport: 'docker', reference: 'localhost:5000/app' }, 'docker:// is always a registry');
    } finally {
      process.chdir(cwd);
    }
    const refused: Array<[string, ErrorCode, RegExp]> = [
      [join(dir, 'notes.txt'), 'OCI_BAD_DESTINATION', /notes\.txt: expected an OCI layout directory, or an OCI or docker archive .* found a file that is neither/],
      ['./missing', 'OCI_BAD_DESTINATION', /^\.\/missing: expected an OCI layout directory or an image archive at this path, found nothing there$/],
      ['Not A Ref!', 'OCI_UNKNOWN_TRANSPORT', /expected an image: a path that exists .*, a registry reference, or oci:DIR.*found "Not A Ref!", which is no file or directory here and no reference/],
      [`${join(dir, 'out')}:bad tag`, 'OCI_BAD_TAG', /"bad tag"/],
      [`${join(dir, 'd.tar')}:UPPER`, 'OCI_BAD_REFERENCE', /"UPPER"/],
      ['docker-daemon:app:1', 'OCI_UNKNOWN_TRANSPORT', /found "docker-daemon:app:1", skopeo's docker-daemon: transport, which pith does not read/],
    ];
    for (const [text, code, message] of refused) await assert.rejects(locateImage(text), (e) => isPithError(e, code) && message.test(e.message), text);
  });
});

test('a registry reference is written with or without docker://; a local location there is refused by name', () => {
  assert.equal(registryReference('docker://127.0.0.1:5000/app:1'), '127.0.0.1:5000/app:1');
  assert.equal(registryReference('127.0.0.1:5000/app:1'), '127.0.0.1:5000/app:1');
  assert.equal(registryLocation('127.0.0.1:5000/app:1'), 'docker://127.0.0.1:5000/app:1');
  assert.equal(registryLocation('localhost:5000/app'), 'docker://localhost:5000/app', 'host:port is no transport');
  for (const [text, transport] of [['oci:out', 'oci'], ['oci-archive:o.tar', 'oci-archive'], ['docker-daemon:app:1', 'docker-daemon']]) {
    assert.throws(() => registryLocation(text, 'the <reference> of pith push'), (e) =>
      isPithError(e, 'OCI_BAD_REFERENCE') && e.message === `expected a registry reference (registry/repository[:tag|@digest], with or without docker://) in the <reference> of pith push, found the ${transport}: location "${text}" (pith copy reads and writes any location)`, text);
  }
});
