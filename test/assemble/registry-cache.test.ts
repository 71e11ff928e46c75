// The build cache in a registry: machine A builds and publishes (--cache-to), machine B — an empty local cache —
// builds the same spec from it without downloading a .deb or compressing a layer, bit for bit; machine C builds a
// spec that shares the packages and compresses only its own layer. Entries that were tampered with are refused
// and rebuilt. A real docker-registry and the fixture archive on 127.0.0.1.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build, isPithError, pushImage, type BuildResult, type RegistryOptions } from 'pith';
import { RegistryCache, layerTag } from '../../src/assemble/registry-cache.ts';
import { missingTools } from '../fixtures/apt.ts';
import { fixtureSpec, startFixtureArchive, type FixtureArchive } from '../fixtures/archive.ts';
import { Registry, registryMissing } from '../fixtures/registry.ts';

const skip = missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils' }) ?? registryMissing();
const scratch = mkdtempSync(join(tmpdir(), 'pith-registry-cache-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('the registry build cache', { skip }, () => {
  let server: FixtureArchive;
  let registry: Registry;
  let cache: string;
  let first: BuildResult;
  const layers = (r: BuildResult) => r.architectures[0]!.layers;

  /** A project directory with a spec; `file` adds a files: entry holding that text. */
  function project(name: string, file?: string): string {
    const dir = join(scratch, name);
    mkdirSync(dir, { recursive: true });
    let rest = 'packages: [app]\n';
    if (file !== undefined) {
      writeFileSync(join(dir, 'motd'), file);
      rest += 'files:\n  - from: motd\n    to: /etc/motd\n';
    }
    writeFileSync(join(dir, 'pith.yaml'), fixtureSpec(server, rest));
    return dir;
  }
  const debsAsked = () => server.requests.filter((r) => r.endsWith('.deb')).length;

  before(async () => {
    server = await startFixtureArchive(join(scratch, 'archive'));
    registry = await Registry.start(join(scratch, 'registry'));
    cache = `docker://${registry.host}/ci/cache`;
    const a = project('a');
    first = await build(a, { cacheDir: join(scratch, 'cache-a'), cacheTo: [cache], outputs: [`oci:${join(a, 'out')}:app`] });
  });
  after(async () => {
    await server?.close();
    await registry?.stop();
  });

  it('a machine with an empty cache builds from it bit for bit: no .deb downloaded, no layer compressed, each layer cached: true', async () => {
    const b = project('b');
    server.requests.length = 0;
    const second = await build(b, { cacheDir: join(scratch, 'cache-b'), cacheFrom: [cache], outputs: [`oci:${join(b, 'out')}:app`] });
    assert.equal(second.digest, first.digest);
    assert.equal(debsAsked(), 0, 'the whole build came from the registry');
    assert.ok(layers(second).every((l) => l.cached && l.cachedIn === 'registry'), JSON.stringify(layers(second).map((l) => [l.comment, l.cached, l.cachedIn])));
    assert.ok(layers(first).every((l) => !l.cached), 'machine A compressed everything itself');
  });

  it('a spec sharing the packages takes their layers from the cache and compresses only its own; the result equals an uncached build', async () => {
    const c = project('c', 'welcome\n');
    const withCache = await build(c, { cacheDir: join(scratch, 'cache-c'), cacheFrom: [cache], outputs: [`oci:${join(c, 'out')}:app`] });
    const compressed = layers(withCache).filter((l) => !l.cached).map((l) => l.comment);
    assert.deepEqual(compressed, ['files from the spec'], 'only the layer of the spec\'s own files was compressed here');
    const d = project('d', 'welcome\n');
    const alone = await build(d, { cacheDir: join(scratch, 'cache-d'), outputs: [`oci:${join(d, 'out')}:app`] });
    assert.equal(withCache.digest, alone.digest, 'a layer taken from the registry is byte-identical to one built locally');
  });

  it('pushing an image built from the cache mounts its layers from the cache repository instead of uploading them', async () => {
    const registryOptions: RegistryOptions = {};
    const e = project('e');
    const built = await build(e, { cacheDir: join(scratch, 'cache-e'), cacheFrom: [cache], registry: registryOptions, outputs: [`oci:${join(e, 'out')}:app`] });
    const summary = await pushImage(`${registry.host}/team/app:1`, built.image, registryOptions);
    assert.equal(summary.blobs.mounted, layers(built).length, JSON.stringify(summary.blobs));
    assert.equal(summary.blobs.uploaded, 1, 'only the image config is new');
  });

  it('a tampered entry is refused and rebuilt, never used: a layer tag pointing at another layer, a record naming a blob it lacks', async () => {
    // Re-tag one layer's entry under another layer's tag: its blob is sound, but it is not the layer asked for.
    const [x, y] = layers(first);
    const client = await import('../../src/registry/client.ts');
    const { client: c } = await client.RegistryClient.primary({ domain: registry.host, path: 'ci/cache' });
    const scopes = ['repository:ci/cache:pull,push'];
    const entry = await c.getManifest('ci/cache', layerTag(x!.diffId), scopes);
    await c.putManifest('ci/cache', layerTag(y!.diffId), entry.bytes, entry.mediaType, scopes);

    const f = project('f', 'other\n'); // another build key: the whole-build entry does not apply, the layer entries do
    const warnings: string[] = [];
    const rebuilt = await build(f, { cacheDir: join(scratch, 'cache-f'), cacheFrom: [cache], outputs: [`oci:${join(f, 'out')}:app`], onEvent: (ev) => { if (ev.kind === 'warning') warnings.push(ev.message); } });
    assert.ok(warnings.some((w) => w.includes(layerTag(y!.diffId)) && /uncompresses to .*, not the .* it is cached for/.test(w)), warnings.join('\n'));
    const again = layers(rebuilt).find((l) => l.diffId === y!.diffId)!;
    assert.equal(again.cached, false, 'the refused layer was compressed again');
    const g = project('g', 'other\n');
    assert.equal(rebuilt.digest, (await build(g, { cacheDir: join(scratch, 'cache-g'), outputs: [`oci:${join(g, 'out')}:app`] })).digest);
  });

  it('builders sharing the cache at the same moment compress each layer once between them: one claims it, the others take it', async () => {
    const shared = `docker://${registry.host}/ci/shared`;
    const builders = ['h', 'i', 'j'].map((n) => project(n, 'same files\n'));
    const results = await Promise.all(builders.map((dir, k) => build(dir, { cacheDir: join(scratch, `cache-${k}-shared`), cacheFrom: [shared], cacheTo: [shared], outputs: [`oci:${join(dir, 'out')}:app`] })));
    assert.equal(new Set(results.map((r) => r.digest)).size, 1, 'the same image everywhere');
    const compressed = results.flatMap((r) => layers(r).filter((l) => !l.cached).map((l) => l.diffId));
    assert.deepEqual([...compressed].sort(), [...new Set(layers(results[0]!).map((l) => l.diffId))].sort(), 'each distinct layer compressed by exactly one builder');
    // The registry agrees: each layer entry was published once (a publication carries its builder's id, so a second
    // one would be a second revision of the tag).
    const tags = join(registry.storage, 'docker/registry/v2/repositories/ci/shared/_manifests/tags');
    const revisions = readdirSync(tags).filter((t) => t.startsWith('pith-layer-')).map((t) => readdirSync(join(tags, t, 'index', 'sha256')).length);
    assert.equal(revisions.length, new Set(compressed).size);
    assert.ok(revisions.every((n) => n === 1), JSON.stringify(revisions));
  });

  it('names only repositories: a tag or digest in --cache-from/--cache-to is refused before any work', () => {
    assert.throws(() => new RegistryCache({ to: [`docker://${registry.host}/ci/cache:latest`] }), (e) => isPithError(e, 'CACHE_REF_INVALID') && /--cache-to: expected a repository/.test(e.message));
    assert.throws(() => new RegistryCache({ from: [`${registry.host}/ci/cache@sha256:${'0'.repeat(64)}`] }), (e) => isPithError(e, 'CACHE_REF_INVALID'));
    assert.equal(new RegistryCache({ from: [`${registry.host}/ci/cache`] }).enabled, true);
  });
});
