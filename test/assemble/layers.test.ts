import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { AVAILABLE_LAYER, SPEC_FILES_LAYER } from '../../src/assemble/layer-names.ts';
import { DEFAULT_LAYER_BUDGET, planLayers, type PlannedLayer } from '../../src/assemble/layers.ts';
import { AVAILABLE, STATUS_D, writeAvailable, writeFileLists, writeStatusD } from '../../src/assemble/status.ts';
import type { FileEntry, FsEntry } from '../../src/fs/entry.ts';
import { FsTree } from '../../src/fs/tree.ts';
import type { LockedPackage } from '../../src/lock/lock.ts';
import { readContent } from '../../src/fs/content.ts';

const EPOCH = 1_700_000_000;
const SKELETON = 'pith: directories and merged /usr';
const PITH = 'pith: what maintainer scripts would have made (accounts, CA bundle, time zone, alternatives) and os-release';

const file = (path: string, bytes: number, fill = 0): FileEntry => ({ type: 'file', path, mode: 0o644, uid: 0, gid: 0, mtime: EPOCH, content: new Uint8Array(bytes).fill(fill) });
const link = (path: string, target: string): FsEntry => ({ type: 'symlink', path, target, uid: 0, gid: 0, mtime: EPOCH });
const dir = (path: string): FsEntry => ({ type: 'dir', path, mode: 0o755, uid: 0, gid: 0, mtime: EPOCH });

function locked(name: string, source: string, version = '1.0-1'): LockedPackage {
  return { name, version, architecture: 'amd64', source, sourceVersion: version, suite: 'stable', filename: `pool/main/${name}_${version}_amd64.deb`, size: 1000, sha256: name.padEnd(64, '0').slice(0, 64) };
}

/** What each package ships, by binary package; five source packages of clearly different sizes. */
const SHIPS: Record<string, FsEntry[]> = {
  libc6: [file('/usr/lib/x86_64-linux-gnu/libc.so.6', 30_000), link('/lib64/ld-linux-x86-64.so.2', '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2')],
  'libc-bin': [file('/usr/bin/getent', 10_000)],
  libssl3: [file('/usr/lib/x86_64-linux-gnu/libssl.so.3', 20_000)],
  openssl: [file('/usr/bin/openssl', 5_000), file('/etc/ssl/openssl.cnf', 1_000)],
  tzdata: [dir('/usr/share/zoneinfo'), file('/usr/share/zoneinfo/UTC', 15_000)],
  'ca-certificates': [file('/usr/share/ca-certificates/mozilla/A.crt', 2_000)],
  zlib1g: [file('/usr/lib/x86_64-linux-gnu/libz.so.1', 1_000)],
};
const SOURCES: Record<string, string> = { libc6: 'glibc', 'libc-bin': 'glibc', libssl3: 'openssl', openssl: 'openssl', tzdata: 'tzdata', 'ca-certificates': 'ca-certificates', zlib1g: 'zlib' };

/**
 * An image tree as assembly leaves it: the packages unpacked, their dpkg metadata written, a file pith made, and
 * the spec's files on top (one replacing a package's file). `change` gives one package different bytes.
 */
function image(options: { specFiles?: FileEntry[]; change?: string } = {}): { tree: FsTree; lock: LockedPackage[]; specFiles: FileEntry[] } {
  const specFiles = options.specFiles ?? [file('/app/server', 50), file('/etc/ssl/openssl.cnf', 10, 1)];
  const tree = FsTree.mergedUsr();
  const lock = Object.keys(SHIPS).sort().map((name) => locked(name, SOURCES[name]!, name === options.change ? '2.0-1' : '1.0-1'));
  for (const [name, entries] of Object.entries(SHIPS)) {
    for (const e of entries) tree.add(e.type === 'file' && name === options.change ? { ...e, content: readContent(e.content).map(() => 2) } : e, name);
  }
  const control = (p: LockedPackage) => new TextEncoder().encode(`Package: ${p.name}\nSource: ${p.source}\nVersion: ${p.version}\nArchitecture: amd64\n`);
  writeStatusD(tree, lock.map((p) => ({ name: p.name, architecture: 'amd64', control: {}, controlFiles: new Map([['control', control(p)]]) })), { sourceDateEpoch: EPOCH });
  writeAvailable(tree, lock, { sourceDateEpoch: EPOCH });
  tree.add(file('/etc/passwd', 40));
  for (const f of specFiles) tree.add(f, undefined, { replaces: true });
  writeFileLists(tree, lock.map((p) => ({ name: p.name })), { sourceDateEpoch: EPOCH });
  return { tree, lock, specFiles };
}

const comments = (layers: PlannedLayer[]) => layers.map((l) => l.comment);
const paths = (layer: PlannedLayer | undefined) => layer?.entries.map((e) => e.path) ?? [];
const byComment = (layers: PlannedLayer[], comment: string) => layers.find((l) => l.comment === comment);

describe('planLayers', () => {
  it('stacks the skeleton, one layer per source package, pith\'s files, available, and the spec\'s files last', () => {
    const { tree, lock, specFiles } = image();
    const layers = planLayers(tree, lock, specFiles, DEFAULT_LAYER_BUDGET);
    assert.deepEqual(comments(layers), [
      SKELETON,
      'source ca-certificates: ca-certificates',
      'source glibc: libc-bin libc6',
      'source openssl: libssl3 openssl',
      'source tzdata: tzdata',
      'source zlib: zlib1g',
      PITH,
      AVAILABLE_LAYER,
      SPEC_FILES_LAYER,
    ]);
    assert.deepEqual(layers.map((l) => l.packages), [[], ['ca-certificates'], ['libc-bin', 'libc6'], ['libssl3', 'openssl'], ['tzdata'], ['zlib1g'], [], [], []]);
    assert.deepEqual(paths(byComment(layers, SPEC_FILES_LAYER)), ['/app/server', '/etc/ssl/openssl.cnf'], 'a spec file that replaced a package\'s file goes with the spec\'s files');
    assert.deepEqual(paths(byComment(layers, AVAILABLE_LAYER)), [AVAILABLE]);
    assert.deepEqual(paths(byComment(layers, PITH)), ['/etc/passwd']);
  });

  it('puts every directory and the merged-/usr links in the skeleton, a package\'s own links in its layer', () => {
    const { tree, lock, specFiles } = image();
    const [skeleton, ...rest] = planLayers(tree, lock, specFiles, DEFAULT_LAYER_BUDGET);
    const dirs = tree.entries().filter((e) => e.type === 'dir').map((e) => e.path);
    assert.ok(dirs.includes('/usr/share/zoneinfo'), 'a directory a package ships');
    assert.deepEqual(paths(skeleton).filter((p) => tree.get(p)!.type === 'dir'), dirs);
    assert.deepEqual(skeleton!.entries.filter((e) => e.type !== 'dir').map((e) => e.path), ['/bin', '/lib', '/lib64', '/sbin']);
    assert.ok(paths(byComment(rest, 'source glibc: libc-bin libc6')).includes('/usr/lib64/ld-linux-x86-64.so.2'));
  });

  it('keeps each package\'s dpkg metadata in its layer, so one changed package changes one layer and available', () => {
    const { tree, lock, specFiles } = image();
    const layers = planLayers(tree, lock, specFiles, DEFAULT_LAYER_BUDGET);
    for (const layer of layers) {
      for (const p of layer.packages) {
        assert.ok(paths(layer).includes(`${STATUS_D}/${p}`), `${p}'s status.d stanza is in "${layer.comment}"`);
        assert.ok(paths(layer).includes(`/var/lib/dpkg/info/${p}.list`), `${p}'s file list is in "${layer.comment}"`);
      }
    }
    const changed = image({ change: 'zlib1g' });
    const after = planLayers(changed.tree, changed.lock, changed.specFiles, DEFAULT_LAYER_BUDGET);
    assert.deepEqual(comments(after), comments(layers));
    const differ = layers.filter((l, i) => !isDeepStrictEqual(l.entries, after[i]!.entries)).map((l) => l.comment);
    assert.deepEqual(differ, ['source zlib: zlib1g', AVAILABLE_LAYER]);
  });

  it('places every entry of the tree in exactly one layer', () => {
    const { tree, lock, specFiles } = image();
    const planned = planLayers(tree, lock, specFiles, 4).flatMap((l) => paths(l));
    assert.deepEqual([...planned].sort(), tree.entries().map((e) => e.path).sort());
    assert.equal(new Set(planned).size, planned.length);
  });

  it('fills the budget exactly: the largest sources get their own layer, the rest share one', () => {
    const { tree, lock, specFiles } = image();
    // Four layers are fixed here (skeleton, pith's files, available, spec files); five sources fill 9 exactly.
    assert.equal(planLayers(tree, lock, specFiles, 9).length, 9);
    assert.equal(planLayers(tree, lock, specFiles, 10).length, 9, 'no empty layers to reach a larger budget');
    const short = planLayers(tree, lock, specFiles, 8);
    assert.deepEqual(comments(short).slice(1, 5), [
      'source glibc: libc-bin libc6',
      'source openssl: libssl3 openssl',
      'source tzdata: tzdata',
      'packages: ca-certificates zlib1g',
    ]);
    assert.equal(short.length, 8);
    assert.deepEqual(byComment(short, 'packages: ca-certificates zlib1g')!.packages, ['ca-certificates', 'zlib1g']);
  });

  it('counts only the layers that exist against the budget', () => {
    const { tree, lock, specFiles } = image({ specFiles: [] });
    const layers = planLayers(tree, lock, specFiles, 8);
    assert.equal(layers.length, 8);
    assert.ok(!comments(layers).includes(SPEC_FILES_LAYER));
    assert.ok(!comments(layers).some((c) => c.startsWith('packages:')), 'the spec-files layer\'s place goes to a source package');
  });

  it('never merges the fixed layers, however small the budget', () => {
    const { tree, lock, specFiles } = image();
    assert.deepEqual(comments(planLayers(tree, lock, specFiles, 1)), [
      SKELETON,
      'source glibc: libc-bin libc6',
      'packages: ca-certificates libssl3 openssl tzdata zlib1g',
      PITH,
      AVAILABLE_LAYER,
      SPEC_FILES_LAYER,
    ]);
  });

  it('breaks a tie in size by source name, and gives the same plan whatever order the lock lists packages in', () => {
    const tree = FsTree.mergedUsr();
    const lock = [locked('big', 'big'), locked('mid-b', 'mid-b'), locked('mid-a', 'mid-a'), locked('small', 'small')];
    tree.add(file('/big', 3000), 'big');
    // mid-b's path sorts first, so only the names can put mid-a ahead.
    tree.add(file('/a/mid-b', 100), 'mid-b');
    tree.add(file('/z/mid-a', 100), 'mid-a');
    tree.add(file('/small', 10), 'small');
    const plan = planLayers(tree, lock, [], 4);
    assert.deepEqual(comments(plan), [SKELETON, 'source big: big', 'source mid-a: mid-a', 'packages: mid-b small']);
    assert.deepEqual(planLayers(tree, [...lock].reverse(), [], 4), plan);
  });
});

