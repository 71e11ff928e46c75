import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Assembled } from '../../src/assemble/assemble.ts';
import { buildKey, layerBlobCache, loadBuild, saveBuild } from '../../src/assemble/cache.ts';
import { ContentStore } from '../../src/cache/store.ts';
import type { Spec } from '../../src/config/spec.ts';
import type { FileEntry, FsEntry } from '../../src/fs/entry.ts';
import type { LockedPackage } from '../../src/lock/lock.ts';
import { layerFromEntries, type Layer } from '../../src/oci/image.ts';


const EPOCH = 1_700_000_000;
const scratch = mkdtempSync(join(tmpdir(), 'pith-build-cache-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let stores = 0;
/** A fresh store in its own directory, as a first build on a machine finds it. */
const freshStore = () => new ContentStore(join(scratch, `store-${++stores}`));

const file = (path: string, text: string, mode = 0o644): FileEntry => ({ type: 'file', path, mode, uid: 0, gid: 0, mtime: EPOCH, content: new TextEncoder().encode(text) });
const lib: LockedPackage = {
  name: 'libc6', version: '2.36-9', architecture: 'amd64', source: 'glibc', sourceVersion: '2.36-9', suite: 'stable',
  filename: 'pool/main/g/glibc/libc6_2.36-9_amd64.deb', size: 2_800_000, sha256: 'a'.repeat(64),
};
const spec: Spec = { name: 'app', packages: ['libc6'], accounts: { users: [{ name: 'app', uid: 1000 }] }, paths: { exclude: ['/usr/share/doc/*'] } };
const specFiles: FsEntry[] = [file('/app/server', '#!/bin/true\n', 0o755)];

/** What assembling would hand over: two real layers (their blobs put in the store on the way), and the reports. */
async function assembled(store: ContentStore): Promise<Assembled> {
  const blobCache = layerBlobCache(store);
  const layers = [
    await layerFromEntries([file('/usr/lib/x86_64-linux-gnu/libc.so.6', 'libc')], { sourceDateEpoch: EPOCH, comment: 'source glibc: libc6', blobCache }),
    await layerFromEntries(specFiles, { sourceDateEpoch: EPOCH, comment: 'files from the spec', blobCache }),
  ];
  return {
    layers,
    layerInfo: [{ comment: 'source glibc: libc6', packages: ['libc6'] }, { comment: 'files from the spec', packages: [] }],
    user: '1000:1000',
    trimmed: [{ path: '/usr/share/doc/libc6/changelog.gz', owner: 'libc6', rule: 'default: /usr/share/doc/*' }],
    scripts: [{ package: 'libc6', script: 'postinst', covered: null, note: 'nothing replaced' }],
    libraries: [{ file: '/app/server', libraries: [{ soname: 'libc.so.6', path: '/usr/lib/x86_64-linux-gnu/libc.so.6', package: 'libc6' }] }],
    blobsFromCache: blobCache.hits,
  };
}

/** A layer as an image would carry it: descriptor fields and bytes. */
const described = async (l: Layer) => ({ digest: l.digest, diffId: l.diffId, size: l.size, uncompressedSize: l.uncompressedSize, history: l.history, bytes: Buffer.from(await l.bytes()) });

describe('build cache', () => {
  it('misses on a fresh store, then serves a saved build with byte-identical layers', async () => {
    const store = freshStore();
    const key = buildKey(spec, [lib], 'amd64', specFiles, EPOCH);
    assert.equal(await loadBuild(store, key), null);

    const built = await assembled(store);
    assert.equal(built.blobsFromCache.size, 0, 'a first build compresses every layer');
    await saveBuild(store, key, built);

    // Another pith process on the same cache directory.
    const cached = await loadBuild(new ContentStore(store.root), key);
    assert.ok(cached);
    assert.deepEqual(await Promise.all(cached.layers.map(described)), await Promise.all(built.layers.map(described)));
    const { layers: _a, blobsFromCache: _b, ...reports } = built;
    const { layers: _c, blobsFromCache: fromCache, ...cachedReports } = cached;
    assert.deepEqual(cachedReports, reports);
    assert.deepEqual([...fromCache], built.layers.map((l) => l.diffId));
    assert.equal(await loadBuild(store, buildKey(spec, [lib], 'arm64', specFiles, EPOCH)), null, 'another key is another build');
  });

  it('treats a damaged or missing blob as a miss, and the next save mends it', async () => {
    const damage = (store: ContentStore, digest: string) => writeFileSync(store.blobPath(digest.replace(/^sha256:/, '')), 'bit rot');
    const remove = (store: ContentStore, digest: string) => rmSync(store.blobPath(digest.replace(/^sha256:/, '')));
    for (const [what, spoil] of [['a damaged layer blob', damage], ['a missing layer blob', remove]] as const) {
      const store = freshStore();
      const key = buildKey(spec, [lib], 'amd64', specFiles, EPOCH);
      const built = await assembled(store);
      await saveBuild(store, key, built);
      spoil(store, built.layers[1]!.digest);
      assert.equal(await loadBuild(store, key), null, what);
      const rebuilt = await assembled(store);
      assert.deepEqual(rebuilt.layers.map((l) => l.digest), built.layers.map((l) => l.digest), `${what}: the same bytes again`);
      await saveBuild(store, key, rebuilt);
      assert.ok(await loadBuild(store, key), `${what}: a hit once saved again`);
    }
  });

  it('treats a damaged build record as a miss', async () => {
    const store = freshStore();
    const key = buildKey(spec, [lib], 'amd64', specFiles, EPOCH);
    const built = await assembled(store);
    const layerBlobs = new Set(built.layers.map((l) => l.digest.replace(/^sha256:/, '')));
    await saveBuild(store, key, built);
    const [record] = readdirSync(join(store.root, 'blobs', 'sha256')).filter((d) => !layerBlobs.has(d));
    writeFileSync(store.blobPath(record!), 'bit rot');
    assert.equal(await loadBuild(store, key), null);
  });
});

describe('layerBlobCache', () => {
  it('gives back a layer compressed once, by its diffId, and compresses again when the blob is damaged', async () => {
    const store = freshStore();
    const entries = [file('/etc/motd', 'hello\n')];
    const first = layerBlobCache(store);
    const made = await layerFromEntries(entries, { sourceDateEpoch: EPOCH, blobCache: first });
    assert.equal(first.hits.size, 0);

    const second = layerBlobCache(store);
    assert.deepEqual(Buffer.from(await (await second.get(made.diffId, made.uncompressedSize!))!.bytes()), Buffer.from(await made.bytes()));
    assert.deepEqual([...second.hits], [made.diffId]);

    writeFileSync(store.blobPath(made.digest.replace(/^sha256:/, '')), 'bit rot');
    const third = layerBlobCache(store);
    assert.equal(await third.get(made.diffId, made.uncompressedSize!), null);
    const remade = await layerFromEntries(entries, { sourceDateEpoch: EPOCH, blobCache: third });
    assert.equal(remade.digest, made.digest);
    assert.equal(third.hits.size, 0);
  });
});

describe('buildKey', () => {
  const key = (s: Spec = spec, pkgs: LockedPackage[] = [lib], files: FsEntry[] = specFiles, epoch = EPOCH, arch = 'amd64') => buildKey(s, pkgs, arch, files, epoch);
  const base = key();

  it('is the same for the same inputs, whatever order the spec\'s keys come in', () => {
    assert.equal(key(), base);
    assert.equal(key({ paths: { exclude: ['/usr/share/doc/*'] }, accounts: { users: [{ uid: 1000, name: 'app' }] }, packages: ['libc6'], name: 'app' }), base);
  });

  it('changes with everything that decides the layers\' bytes', () => {
    const changes: Record<string, string> = {
      'a package\'s sha256': key(spec, [{ ...lib, sha256: 'b'.repeat(64) }]),
      'a package\'s version': key(spec, [{ ...lib, version: '2.36-9+deb12u1' }]),
      'another package': key(spec, [lib, { ...lib, name: 'zlib1g', source: 'zlib', sha256: 'c'.repeat(64) }]),
      'the epoch': key(spec, [lib], specFiles, EPOCH + 1),
      'the architecture': key(spec, [lib], specFiles, EPOCH, 'arm64'),
      'the accounts': key({ ...spec, accounts: { users: [{ name: 'app', uid: 1001 }] } }),
      'the run-as user': key({ ...spec, accounts: { ...spec.accounts, 'run-as': 'app' } }),
      'paths.exclude': key({ ...spec, paths: { exclude: [] } }),
      'paths.keep': key({ ...spec, paths: { ...spec.paths, keep: ['/usr/share/doc/libc6/*'] } }),
      'the layer budget': key({ ...spec, layers: { budget: 5 } }),
      'the time zone': key({ ...spec, timezone: 'Europe/Paris' }),
      'the library check': key({ ...spec, libraries: 'off' }),
      'a spec file\'s content': key(spec, [lib], [file('/app/server', '#!/bin/false\n', 0o755)]),
      'a spec file\'s mode': key(spec, [lib], [file('/app/server', '#!/bin/true\n', 0o700)]),
      'a spec file\'s path': key(spec, [lib], [file('/app/srv', '#!/bin/true\n', 0o755)]),
      'a spec file\'s owner': key(spec, [lib], [{ ...specFiles[0]!, uid: 1000 }]),
      'another spec file': key(spec, [lib], [...specFiles, file('/app/config', '')]),
    };
    for (const [what, k] of Object.entries(changes)) assert.notEqual(k, base, what);
    assert.equal(new Set(Object.values(changes)).size, Object.keys(changes).length, 'each change gives a key of its own');
  });

  it('stays the same when only the image config or the resolution inputs change', () => {
    const same: Record<string, Spec> = {
      cmd: { ...spec, cmd: ['--serve'] },
      entrypoint: { ...spec, entrypoint: ['/app/server'] },
      env: { ...spec, env: { MODE: 'production' } },
      workdir: { ...spec, workdir: '/app' },
      expose: { ...spec, expose: [8080] },
      labels: { ...spec, labels: { team: 'x' } },
      annotations: { ...spec, annotations: { 'org.opencontainers.image.source': 'x' } },
      test: { ...spec, test: { command: ['/app/server', '--version'] } },
      name: { ...spec, name: 'renamed' },
      // What the lock was resolved from: the locked packages already say what it came to.
      packages: { ...spec, packages: ['libc6', 'libc-bin'] },
      exclude: { ...spec, exclude: [{ name: 'debconf', reason: undefined }] },
    };
    for (const [what, s] of Object.entries(same)) assert.equal(key(s), base, what);
  });
});
