/**
 * `readSources` against real components: a real docker-registry holding an image pith built (and pushed with its
 * SPDX SBOM) and one it did not (a rootfs whose dpkg status the real dpkg wrote, made an image by umoci and pushed by
 * skopeo), a registry that is down, an image whose layer the registry serves corrupted, and the fixture archive.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build, readLock } from 'pith';
import { missingTools } from '../fixtures/apt.ts';
import { buildFixtureArchive, fixtureSpec, sampleSuites, startFixtureArchive, type FixtureArchive } from '../fixtures/archive.ts';
import { assertRan, exec } from '../fixtures/exec.ts';
import { Registry } from '../fixtures/registry.ts';
import { FLEET_TOOLS, k8sDeployment, poolDebs, pushForeignImage, withOsRelease } from '../fixtures/fleet.ts';
import { readSources, type ReadSourcesOptions } from '../../src/serve/sources.ts';
import { findingsFor, loadFleetAdvisories } from '../../src/serve/findings.ts';
import { refreshFleet } from '../../src/serve/refresh.ts';
import { openSourcesArchive } from '../../src/orchestrate/archive.ts';
import { securityFixSuites } from '../fixtures/security-fix.ts';
import type { FleetImage, FleetSnapshot } from '../../src/serve/model.ts';
import { buildIndex, platformString, type Image } from '../../src/oci/image.ts';
import { readLayout } from '../../src/oci/read.ts';
import { pushImage } from '../../src/registry/push.ts';
import { readRemote } from '../../src/registry/pull.ts';
import { attachArtifact } from '../../src/registry/referrers.ts';
import { attachSboms } from '../../src/sbom/sbom.ts';

const skip = missingTools(FLEET_TOOLS);
const scratch = mkdtempSync(join(tmpdir(), 'pith-serve-sources-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const cacheDir = join(scratch, 'cache');
/** A registry that is down fails fast: two attempts, not six with backoff. */
const registry: ReadSourcesOptions['registry'] = { retry: { attempts: 2, baseDelayMs: 10 } };

/** Overwrites a blob in the registry's storage with as many other bytes: the registry serves them as they are. */
function corruptBlob(reg: Registry, digest: string): void {
  const hex = digest.slice('sha256:'.length);
  const data = join(reg.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  writeFileSync(data, Buffer.alloc(statSync(data).size, 0x5a));
}

const byName = (s: FleetSnapshot, name: string): FleetImage[] => s.images.filter((i) => i.name === name);
const names = (i: FleetImage) => i.packages.map((p) => `${p.name} ${p.version} (${p.source} ${p.sourceVersion})`).sort();

describe('readSources: specs and registries into one snapshot', { skip }, () => {
  let archive: FixtureArchive;
  let reg: Registry;
  let down: Registry;
  let spec: string;
  let built: Awaited<ReturnType<typeof build>>;
  const fleet = join(scratch, 'fleet');

  before(async () => {
    archive = await startFixtureArchive(join(scratch, 'archive'), { suites: withOsRelease(sampleSuites()) });
    reg = await Registry.start(join(scratch, 'registry'));
    // A registry that was there and is gone: its port is closed.
    down = await Registry.start(join(scratch, 'down'));
    await down.stop();
    mkdirSync(join(fleet, 'web'), { recursive: true });
    spec = join(fleet, 'web', 'pith.yaml');
    writeFileSync(spec, fixtureSpec(archive, 'packages: [libfoo1]\n', 'web'));
    built = await build(spec, { cacheDir, outputs: [`oci:${join(scratch, 'out')}:web`], push: [`${reg.host}/fleet/web:1`, `${reg.host}/fleet/web:stable`], sbom: ['spdx'] });
    const debs = poolDebs(archive);
    const pick = (...files: string[]) => files.map((f) => debs.get(f)!);
    const base = pick('base-files_12.4+deb12u5_amd64.deb', 'gcc-12-base_12.2.0-14_amd64.deb', 'libc6_2.36-9_amd64.deb', 'libgcc-s1_12.2.0-14+b1_amd64.deb', 'libfoo1_1.0-1_amd64.deb');
    await pushForeignImage(join(scratch, 'foreign'), base, `${reg.host}/other/base:bookworm`);
    await pushForeignImage(join(scratch, 'broken'), pick('base-files_12.4+deb12u5_amd64.deb'), `${reg.host}/other/broken:1`, { 'etc/hostname': 'broken\n' });
    const manifest = JSON.parse(assertRan(await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/other/broken:1`]))) as { layers: Array<{ digest: string }> };
    corruptBlob(reg, manifest.layers.at(-1)!.digest);
  });
  after(async () => {
    await reg?.stop();
    archive?.close();
  });

  it('reads every spec lock, every tag of every repository, and keeps going past a registry that is down', async () => {
    const snapshot = await readSources(
      { specs: [fleet], registries: [{ registry: reg.host, insecure: false }, { registry: down.host, insecure: false }], manifests: [] },
      { registry, now: new Date('2026-12-04T10:00:00Z') },
    );
    assert.equal(snapshot.takenAt, '2026-12-04T10:00:00.000Z');

    // What pith built from the spec and pushed: one image under its two tags and its spec, named by its title
    // annotation, its packages from the SBOM pushed with it — exactly what the lock pins.
    const [web, ...more] = byName(snapshot, 'web');
    assert.deepEqual(more, [], 'the lock the pushed image was built from is that image, not another');
    assert.equal(web!.inventory, 'sbom');
    assert.equal(web!.digest, built.digest);
    assert.deepEqual(web!.origins, [
      { kind: 'spec', spec, lock: built.lockPath, name: 'web' },
      { kind: 'registry', registry: reg.host, repository: 'fleet/web', tag: '1' },
      { kind: 'registry', registry: reg.host, repository: 'fleet/web', tag: 'stable' },
    ]);
    assert.deepEqual([web!.platform, web!.release, web!.error], ['linux/amd64', 'bookworm', undefined]);
    const locked = readLock(built.lockPath).architectures.amd64!.packages.map((p) => `${p.name} ${p.version} (${p.source} ${p.sourceVersion})`).sort();
    assert.deepEqual(names(web!), locked);
    assert.ok(locked.includes('libfoo1 1.0-1+deb12u1 (foo 1.0-1+deb12u1)'), locked.join('\n'));

    // What pith did not build: named by its repository, its packages from the dpkg status the real dpkg wrote.
    const [base] = byName(snapshot, 'other/base');
    assert.equal(base!.inventory, 'status');
    assert.deepEqual(base!.origins, [{ kind: 'registry', registry: reg.host, repository: 'other/base', tag: 'bookworm' }]);
    assert.deepEqual([base!.platform, base!.release], ['linux/amd64', 'bookworm'], 'the release from os-release');
    assert.deepEqual(names(base!), [
      'base-files 12.4+deb12u5 (base-files 12.4+deb12u5)',
      'gcc-12-base 12.2.0-14 (gcc-12 12.2.0-14)',
      'libc6 2.36-9 (glibc 2.36-9)',
      'libfoo1 1.0-1 (foo 1.0-1)',
      'libgcc-s1 12.2.0-14+b1 (gcc-12 12.2.0-14)',
    ]);

    // A layer served with other bytes than its digest: that image keeps its place, with the error, and only it.
    const [broken] = byName(snapshot, 'other/broken');
    assert.equal(broken!.inventory, 'none');
    assert.deepEqual(broken!.packages, []);
    assert.match(broken!.error ?? '', /REGISTRY_DIGEST_MISMATCH/);
    assert.equal(snapshot.images.filter((i) => i.error !== undefined).length, 1);

    // The SBOM's referrers tag (sha256-…) is a document about an image, not an image.
    assert.deepEqual(snapshot.images.map((i) => i.name), ['other/base', 'other/broken', 'web']);

    // The registry that is down: one source error naming it; everything else was read.
    assert.equal(snapshot.errors.length, 1, JSON.stringify(snapshot.errors));
    assert.equal(snapshot.errors[0]!.source, `registry ${down.host}`);
    assert.match(snapshot.errors[0]!.message, /^REGISTRY_CONNECTION: /);
  });

  it('deployment manifests say which digest runs where; a tag is resolved to the digest the registry gave it', async () => {
    const deploy = join(scratch, 'deploy');
    mkdirSync(join(deploy, 'k8s'), { recursive: true });
    writeFileSync(join(deploy, 'k8s', 'web.yaml'), k8sDeployment('web', `${reg.host}/fleet/web:1@${built.digest}`));
    writeFileSync(join(deploy, 'compose.yaml'), `services:\n  base:\n    image: ${reg.host}/other/base:bookworm\n  cache:\n    image: ${reg.host}/other/redis:7\n`);
    writeFileSync(join(deploy, 'k8s', 'broken.yaml'), 'kind: Deployment\nspec: [unclosed\n');
    const snapshot = await readSources({ specs: [], registries: [{ registry: reg.host, repositories: ['other/base'], insecure: false }], manifests: [deploy, join(scratch, 'no-deploy')] }, { registry });
    const [base] = byName(snapshot, 'other/base');
    assert.deepEqual(snapshot.deployments, [
      { file: join(deploy, 'compose.yaml'), workload: 'service base', reference: `${reg.host}/other/base:bookworm`, digest: base!.digest },
      { file: join(deploy, 'compose.yaml'), workload: 'service cache', reference: `${reg.host}/other/redis:7` },
      { file: join(deploy, 'k8s', 'web.yaml'), workload: 'Deployment/web', container: 'web', reference: `${reg.host}/fleet/web:1@${built.digest}`, digest: built.digest },
    ]);
    assert.deepEqual(snapshot.errors.map((e) => [e.source, e.message.split(':')[0]]), [
      [`manifest ${join(deploy, 'k8s', 'broken.yaml')}`, 'not YAML'],
      [`manifests ${join(scratch, 'no-deploy')}`, 'ENOENT'],
    ]);
  });

  it('an SBOM attached to an image pith did not build is read; an attached document that is no SBOM is passed over for the layers', async () => {
    const debs = poolDebs(archive);
    const base = ['base-files_12.4+deb12u5_amd64.deb', 'libc6_2.36-9_amd64.deb'].map((f) => debs.get(f)!);
    await pushForeignImage(join(scratch, 'attached'), base, `${reg.host}/other/attached:1`, { 'etc/hostname': 'attached\n' });
    await pushForeignImage(join(scratch, 'garbled'), base, `${reg.host}/other/garbled:1`, { 'etc/hostname': 'garbled\n' });
    const attached = await readRemote(`${reg.host}/other/attached:1`);
    await attachSboms([`docker://${reg.host}/other/attached:1`], attached, ['cyclonedx']);
    await attachArtifact(`${reg.host}/other/garbled:1`, { artifactType: 'application/spdx+json', blobs: [{ mediaType: 'application/spdx+json', bytes: new TextEncoder().encode('not an SBOM') }] });
    const snapshot = await readSources({ specs: [], registries: [{ registry: reg.host, repositories: ['other/attached', 'other/garbled'], insecure: false }], manifests: [] }, { registry });
    assert.deepEqual(snapshot.images.map((i) => [i.name, i.inventory, names(i), i.release, i.error]), [
      ['other/attached', 'sbom', ['base-files 12.4+deb12u5 (base-files 12.4+deb12u5)', 'libc6 2.36-9 (glibc 2.36-9)'], 'bookworm', undefined],
      ['other/garbled', 'status', ['base-files 12.4+deb12u5 (base-files 12.4+deb12u5)', 'libc6 2.36-9 (glibc 2.36-9)'], 'bookworm', undefined],
    ]);
  });

  it('a configured repository list is read instead of the catalog; a missing repository is an error of its own', async () => {
    const snapshot = await readSources({ specs: [], registries: [{ registry: reg.host, repositories: ['other/base', 'no/such'], insecure: false }], manifests: [] }, { registry });
    assert.deepEqual(snapshot.images.map((i) => i.name), ['other/base']);
    assert.deepEqual(snapshot.errors.map((e) => [e.source, e.message.split(':')[0]]), [[`registry ${reg.host}/no/such`, 'REGISTRY_NOT_FOUND']]);
  });

  it('a spec directory that is not there, and a spec without its lock, are source errors; the other specs are read', async () => {
    const lockless = join(scratch, 'lockless');
    mkdirSync(lockless, { recursive: true });
    writeFileSync(join(lockless, 'pith.yaml'), fixtureSpec(archive, 'packages: [app]\n', 'lockless'));
    const snapshot = await readSources({ specs: [join(scratch, 'nowhere'), lockless, fleet], registries: [], manifests: [] });
    // A spec not found in a registry: one image per locked architecture, known by the lock file's digest.
    const [web, ...more] = snapshot.images;
    assert.deepEqual(more, []);
    assert.equal(web!.digest, `lock:sha256:${createHash('sha256').update(readFileSync(built.lockPath)).digest('hex')}`);
    assert.deepEqual([web!.name, web!.inventory, web!.platform, web!.release], ['web', 'lock', 'linux/amd64', 'bookworm']);
    assert.deepEqual(web!.origins, [{ kind: 'spec', spec, lock: built.lockPath, name: 'web' }]);
    assert.deepEqual(names(web!), readLock(built.lockPath).architectures.amd64!.packages.map((p) => `${p.name} ${p.version} (${p.source} ${p.sourceVersion})`).sort());
    assert.deepEqual(snapshot.errors.map((e) => [e.source, e.message.split(':')[0]]), [
      [`specs ${join(scratch, 'nowhere')}`, 'SPEC_NOT_FOUND'],
      [`spec ${join(lockless, 'pith.yaml')}`, 'LOCK_NOT_FOUND'],
    ]);
  });

  it('two specs with byte-identical locks are one image with two origins; a lock of two architectures is two images, each with its digest', async () => {
    const twin = join(scratch, 'twin');
    const multi = join(scratch, 'multi');
    for (const dir of [twin, multi]) {
      mkdirSync(dir, { recursive: true });
      cpSync(spec, join(dir, 'pith.yaml'));
    }
    cpSync(built.lockPath, join(twin, 'pith.lock'));
    const lock = JSON.parse(readFileSync(built.lockPath, 'utf8'));
    lock.architectures.arm64 = lock.architectures.amd64;
    writeFileSync(join(multi, 'pith.lock'), JSON.stringify(lock));
    const snapshot = await readSources({ specs: [fleet, twin, multi], registries: [], manifests: [] });
    const lockDigest = (file: string) => `lock:sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`;
    const byDigest = (a: unknown[], b: unknown[]) => String(a[0]).localeCompare(String(b[0]));
    assert.deepEqual(
      snapshot.images.map((i) => [i.digest, i.platform, i.origins.map((o) => (o.kind === 'spec' ? o.lock : o.kind))]).sort(byDigest),
      [
        [lockDigest(built.lockPath), 'linux/amd64', [built.lockPath, join(twin, 'pith.lock')]],
        [`${lockDigest(join(multi, 'pith.lock'))}:amd64`, 'linux/amd64', [join(multi, 'pith.lock')]],
        [`${lockDigest(join(multi, 'pith.lock'))}:arm64`, 'linux/arm64/v8', [join(multi, 'pith.lock')]],
      ].sort(byDigest),
    );
    assert.deepEqual(snapshot.errors, []);
  });

  it('a multi-platform index: one image per platform manifest, each knowing the index its tag names, which a deployment by tag runs', async () => {
    const layout = join(scratch, 'foreign', 'layout');
    assertRan(await exec('umoci', ['config', '--image', `${layout}:img`, '--tag', 'img-arm64', '--architecture', 'arm64']));
    const platforms = [await readLayout(layout, { tag: 'img' }), await readLayout(layout, { tag: 'img-arm64' })] as Image[];
    const index = buildIndex(platforms, { annotations: { 'org.opencontainers.image.title': 'base-multi' } });
    await pushImage(`${reg.host}/other/multi:1`, index);
    const deploy = join(scratch, 'deploy-multi');
    mkdirSync(deploy, { recursive: true });
    writeFileSync(join(deploy, 'compose.yaml'), `services:\n  multi:\n    image: ${reg.host}/other/multi:1\n`);
    const snapshot = await readSources({ specs: [], registries: [{ registry: reg.host, repositories: ['other/multi'], insecure: false }], manifests: [deploy] }, { registry });
    // The snapshot lists images by name, then digest.
    const byDigest = [...platforms].sort((a, b) => (a.digest < b.digest ? -1 : 1));
    assert.deepEqual(
      snapshot.images.map((i) => [i.name, i.platform, i.digest, i.inventory, i.packages.length]),
      byDigest.map((p) => ['base-multi', platformString(p.platform), p.digest, 'status', 5]),
      'named by the index title; the arm64 image shares the amd64 layer, and so its packages',
    );
    for (const image of snapshot.images) assert.deepEqual(image.origins, [{ kind: 'registry', registry: reg.host, repository: 'other/multi', tag: '1', index: index.digest }]);
    assert.deepEqual(snapshot.deployments.map((d) => [d.workload, d.digest]), [['service multi', index.digest]]);
  });

  it('a registry that wants credentials is read with them as pith push finds them (auth.json), and without them is a source error', async () => {
    const locked = await Registry.start(join(scratch, 'locked'), { kind: 'htpasswd', users: { ci: 'secret' } });
    try {
      assertRan(await exec('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', 'ci:secret', `oci:${join(scratch, 'foreign', 'layout')}:img`, `docker://${locked.host}/team/base:1`]));
      const home = join(scratch, 'home');
      mkdirSync(home, { recursive: true });
      const authFile = join(scratch, 'auth.json');
      writeFileSync(authFile, JSON.stringify({ auths: { [locked.host]: { auth: Buffer.from('ci:secret').toString('base64') } } }));
      const config = { specs: [], registries: [{ registry: locked.host, insecure: false }], manifests: [] };
      const withCredentials = await readSources(config, { registry: { ...registry, env: { HOME: home, REGISTRY_AUTH_FILE: authFile } } });
      assert.deepEqual(withCredentials.errors, []);
      assert.deepEqual(withCredentials.images.map((i) => [i.name, i.inventory, i.packages.length]), [['team/base', 'status', 5]]);
      const without = await readSources(config, { registry: { ...registry, env: { HOME: home } } });
      assert.deepEqual(without.images, []);
      assert.deepEqual(without.errors.map((e) => [e.source, e.message.split(':')[0]]), [[`registry ${locked.host}`, 'REGISTRY_UNAUTHORIZED']]);
    } finally {
      await locked.stop();
    }
  });

  it('findings: each image\'s packages matched by source against its release\'s advisories; a fix is available once the archive serves it', async () => {
    const snapshot = await readSources({ specs: [fleet], registries: [{ registry: reg.host, repositories: ['fleet/web', 'other/base'], insecure: false }], manifests: [] }, { registry });
    const feeds = join(scratch, 'feeds');
    mkdirSync(feeds, { recursive: true });
    writeFileSync(join(feeds, 'DEBIAN-CVE-2026-1111.json'), JSON.stringify({
      schema_version: '1.6.0', id: 'DEBIAN-CVE-2026-1111', aliases: ['CVE-2026-1111'],
      affected: [{ package: { ecosystem: 'Debian:12', name: 'foo' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.0-1+deb12u2' }] }] }],
    }));
    writeFileSync(join(feeds, 'DEBIAN-CVE-2026-3333.json'), JSON.stringify({
      schema_version: '1.6.0', id: 'DEBIAN-CVE-2026-3333', aliases: ['CVE-2026-3333'],
      affected: [{ package: { ecosystem: 'Debian:12', name: 'foo' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.0-1+deb12u1' }] }] }],
    }));
    const advisories = await loadFleetAdvisories([feeds], snapshot.images, { cacheDir });
    assert.deepEqual([...advisories.keys()], ['bookworm']);
    const digestOf = (name: string, inventory: string) => snapshot.images.find((i) => i.name === name && i.inventory === inventory)!.digest;
    const summary = (fs: ReturnType<typeof findingsFor>) => fs.map((f) => [f.digest, f.id, `${f.package} ${f.installed}`, f.fixed, f.fixAvailable]).sort();

    // Without an archive nothing says a fix is served. The 1.0-1 the foreign image runs is hit by both CVEs; the
    // pushed 1.0-1+deb12u1 (the lock's) only by the one fixed later.
    const before = findingsFor(snapshot.images, advisories);
    assert.deepEqual(summary(before), [
      [digestOf('other/base', 'status'), 'CVE-2026-1111', 'libfoo1 1.0-1', '1.0-1+deb12u2', false],
      [digestOf('other/base', 'status'), 'CVE-2026-3333', 'libfoo1 1.0-1', '1.0-1+deb12u1', false],
      [digestOf('web', 'sbom'), 'CVE-2026-1111', 'libfoo1 1.0-1+deb12u1', '1.0-1+deb12u2', false],
    ].sort());

    // The archive today serves 1.0-1+deb12u1: a fix for CVE-2026-3333 only.
    const sources = [{ uri: archive.url, suites: ['fixture', 'fixture-security'], components: ['main'], signedBy: archive.keyring }];
    const today = await openSourcesArchive(sources, ['amd64'], { cacheDir });
    assert.deepEqual(findingsFor(snapshot.images, advisories, today).map((f) => [f.id, f.installed, f.fixAvailable]).sort(), [
      ['CVE-2026-1111', '1.0-1', false], ['CVE-2026-1111', '1.0-1+deb12u1', false], ['CVE-2026-3333', '1.0-1', true],
    ].sort());
    // Debian publishes 1.0-1+deb12u2 in the security suite: every finding has its fix served.
    await buildFixtureArchive(archive.root, withOsRelease(securityFixSuites()), archive.key);
    const fixed = await openSourcesArchive(sources, ['amd64'], { cacheDir });
    assert.ok(findingsFor(snapshot.images, advisories, fixed).every((f) => f.fixAvailable));
  });

  it('refreshFleet: sources, advisories, the archive and the findings in one refresh; an archive that is down is an error of the snapshot', async () => {
    // The feeds the previous test wrote, the archive it published the fix in.
    const config = {
      specs: [fleet],
      registries: [{ registry: reg.host, repositories: ['fleet/web', 'other/base'], insecure: false }],
      manifests: [],
      advisories: [join(scratch, 'feeds')],
      sources: [{ uri: archive.url, suites: ['fixture', 'fixture-security'], components: ['main'], signedBy: archive.keyring }],
    };
    const { snapshot, findings } = await refreshFleet(config, { registry, cacheDir });
    assert.deepEqual(snapshot.errors, []);
    assert.deepEqual(findings.map((f) => [f.id, f.installed, f.fixAvailable]).sort(), [
      ['CVE-2026-1111', '1.0-1', true], ['CVE-2026-1111', '1.0-1+deb12u1', true], ['CVE-2026-3333', '1.0-1', true],
    ].sort());

    const gone = await Registry.start(join(scratch, 'gone'));
    await gone.stop();
    const noArchive = { ...config, sources: [{ ...config.sources[0]!, uri: `http://${gone.host}/debian` }] };
    const down = await refreshFleet(noArchive, { registry, cacheDir: join(scratch, 'cold-cache') });
    assert.deepEqual(down.snapshot.errors.map((e) => e.source), [`archive http://${gone.host}/debian fixture fixture-security`]);
    assert.deepEqual(down.findings.map((f) => [f.id, f.installed, f.fixAvailable]).sort(), [
      ['CVE-2026-1111', '1.0-1', false], ['CVE-2026-1111', '1.0-1+deb12u1', false], ['CVE-2026-3333', '1.0-1', false],
    ].sort(), 'the findings stand; that a fix is served is not known');
  });

  it('a registry that goes down keeps what it held at the previous refresh, with its error', async () => {
    const flaky = await Registry.start(join(scratch, 'flaky'));
    const config = { specs: [], registries: [{ registry: flaky.host, insecure: false }], manifests: [] };
    let first: FleetSnapshot;
    try {
      for (const tag of ['1', '2']) assertRan(await exec('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${join(scratch, 'foreign', 'layout')}:img`, `docker://${flaky.host}/team/base:${tag}`]));
      first = await readSources(config, { registry });
      assert.deepEqual(first.images.map((i) => i.origins.map((o) => o.kind === 'registry' && o.tag)), [['1', '2']]);
    } finally {
      await flaky.stop();
    }
    const second = await readSources(config, { registry, previous: first });
    assert.deepEqual(second.images, first.images, 'kept as it was');
    assert.deepEqual(second.errors.map((e) => e.source), [`registry ${flaky.host}`]);
    assert.deepEqual((await readSources(config, { registry })).images, [], 'without the previous refresh nothing is known of it');
  });

  it('an incremental refresh takes the images of the previous snapshot by digest instead of reading them again', async () => {
    const config = { specs: [], registries: [{ registry: reg.host, repositories: ['other/base'], insecure: false }], manifests: [] };
    const first = await readSources(config, { registry });
    const [base] = first.images;
    // From now on the registry serves the base image's layer corrupted: reading it again would fail.
    const manifest = JSON.parse(assertRan(await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/other/base:bookworm`]))) as { layers: Array<{ digest: string }> };
    corruptBlob(reg, manifest.layers.at(-1)!.digest);
    const second = await readSources(config, { registry, previous: first });
    assert.deepEqual(second.images, first.images, 'the digest was not read again');
    const fresh = await readSources(config, { registry });
    assert.equal(fresh.images[0]!.digest, base!.digest);
    assert.match(fresh.images[0]!.error ?? '', /REGISTRY_DIGEST_MISMATCH/, 'without the previous snapshot it is read, and fails');
    const retried = await readSources(config, { registry, previous: fresh });
    assert.match(retried.images[0]!.error ?? '', /REGISTRY_DIGEST_MISMATCH/, 'an image recorded with an error is read again');
  });
});
