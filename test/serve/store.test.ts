// The fleet store on both of its databases: PGlite in a temporary directory, and a real PostgreSQL 15 server
// started for this file (test/fixtures/postgres.ts). Every behaviour is checked on both with the same code: the
// store has one set of SQL. Each test records refreshes (FleetSnapshot + findings) and reads them back as the
// pages and the API do.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isPithError } from '../../src/errors.ts';
import type { Deployment, FleetFinding, FleetImage, FleetPackage, FleetSnapshot } from '../../src/serve/model.ts';
import { openStore, percentile, type FleetStore } from '../../src/serve/store.ts';
import { postgresMissing, PostgresServer } from '../fixtures/postgres.ts';

// ─── A small fleet ───────────────────────────────────────────────────────────

const REGISTRY = '127.0.0.1:5000';

function pkg(name: string, version: string, source = name): FleetPackage {
  return { name, version, architecture: 'amd64', source, sourceVersion: version };
}

const BASE = [pkg('libc6', '2.36-9+deb12u10', 'glibc'), pkg('zlib1g', '1:1.2.13.dfsg-1'), pkg('tzdata', '2025b-0+deb12u1')];
const SSL_OLD = [pkg('libssl3', '3.0.16-1~deb12u1', 'openssl'), pkg('openssl', '3.0.16-1~deb12u1')];
const SSL_NEW = [pkg('libssl3', '3.0.17-1~deb12u2', 'openssl'), pkg('openssl', '3.0.17-1~deb12u2')];

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

function image(name: string, d: string, origin: FleetImage['origins'][number], packages: FleetPackage[], more: Partial<FleetImage> = {}): FleetImage {
  return { digest: d, platform: 'linux/amd64', name, origins: [origin], inventory: 'status', packages, ...more };
}

/** The `web` image, built from a spec (its lock) and pushed as web:1; `api`, pushed only; `legacy`, built by someone else. */
const web = (d: string, packages = [...BASE, ...SSL_OLD]) =>
  image('web', d, { kind: 'registry', registry: REGISTRY, repository: 'web', tag: '1' }, packages, { inventory: 'sbom', release: 'bookworm' });
const webSpec = (lockDigest: string, packages = [...BASE, ...SSL_OLD]) =>
  image('web', `lock:${lockDigest}`, { kind: 'spec', spec: 'specs/web/pith.yaml', lock: 'specs/web/pith.lock', name: 'web' }, packages, { inventory: 'lock', release: 'bookworm' });
const api = (d: string) =>
  image('api', d, { kind: 'registry', registry: REGISTRY, repository: 'api', tag: 'latest' }, [...BASE, pkg('libcurl4', '7.88.1-10+deb12u12', 'curl')], { platform: 'linux/arm64' });
const legacy = (d: string) => image('legacy', d, { kind: 'registry', registry: '127.0.0.1:6000', repository: 'legacy', tag: 'v7' }, [...BASE, ...SSL_OLD]);

function run(file: string, workload: string, d: string, reference = `${REGISTRY}/web@${d}`): Deployment {
  return { file, workload, container: 'main', reference, digest: d };
}

/** The OpenSSL advisory on an image with the old libssl3, with or without the fix published. */
function sslFindings(d: string, fixAvailable: boolean): FleetFinding[] {
  return ['libssl3', 'openssl'].map((p) => ({
    digest: d, id: 'CVE-2025-9230', package: p, installed: '3.0.16-1~deb12u1', source: 'openssl',
    ...(fixAvailable ? { fixed: '3.0.17-1~deb12u2' } : {}), fixAvailable, severity: 'high',
  }));
}
const zlibFinding = (d: string): FleetFinding => ({
  digest: d, id: 'CVE-2023-45853', package: 'zlib1g', installed: '1:1.2.13.dfsg-1', source: 'zlib', fixAvailable: false, severity: 'low',
});

function snapshot(takenAt: string, images: FleetImage[], more: Partial<FleetSnapshot> = {}): FleetSnapshot {
  return { takenAt, images, deployments: [], errors: [], ...more };
}

const T = (hour: number, minute = 0) => new Date(Date.UTC(2026, 0, 10, hour, minute)).toISOString();

// ─── The two databases ───────────────────────────────────────────────────────

interface Backend {
  name: string;
  skip?: string;
  /** A new, empty store location (a directory or a database URL). */
  fresh(): Promise<string>;
}

const scratch = mkdtempSync(join(tmpdir(), 'pith-store-test-'));
let counter = 0;
let server: PostgresServer | undefined;
const pgSkip = postgresMissing();

const backends: Backend[] = [
  { name: 'PGlite', fresh: async () => join(scratch, `store-${++counter}`) },
  { name: 'PostgreSQL 15', skip: pgSkip, fresh: async () => server!.database(`store_${++counter}`) },
];

before(async () => {
  if (!pgSkip) server = await PostgresServer.start();
});
after(async () => {
  await server?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** Opens a fresh store for the body and always closes it (an open PGlite keeps the process alive). */
async function withStore<T>(backend: Backend, body: (store: FleetStore, location: string) => Promise<T>): Promise<T> {
  const location = await backend.fresh();
  const store = await openStore(location);
  try {
    return await body(store, location);
  } finally {
    await store.close();
  }
}

for (const backend of backends) {
  describe(`the fleet store on ${backend.name}`, { skip: backend.skip }, () => {
    it('applies its migrations once: reopening it (or two openers at once) applies nothing again', async () => {
      const location = await backend.fresh();
      const first = await openStore(location);
      assert.deepEqual(await first.schemaVersions(), [1]);
      await first.recordSnapshot(snapshot(T(1), [api(digest(1))]), []);
      await first.close();
      if (backend.name === 'PGlite') {
        const again = await openStore(location);
        await assert.rejects(openStore(location), (e) => isPithError(e, 'SERVE_DATABASE_BUSY') && e.message.includes(location));
        assert.deepEqual(await again.schemaVersions(), [1]);
        assert.equal((await again.listImages()).length, 1, 'reopening kept the data');
        await again.close();
      } else {
        // Two services starting against one server: the advisory lock lets one migrate, the other finds it done.
        const [a, b] = await Promise.all([openStore(location), openStore(location)]);
        assert.deepEqual(await a.schemaVersions(), [1]);
        assert.deepEqual(await b.schemaVersions(), [1]);
        assert.equal((await b.listImages()).length, 1, 'reopening kept the data');
        await Promise.all([a.close(), b.close()]);
        const concurrent = await backend.fresh();
        const stores = await Promise.all([openStore(concurrent), openStore(concurrent), openStore(concurrent)]);
        assert.deepEqual(await stores[0]!.schemaVersions(), [1]);
        await Promise.all(stores.map((s) => s.close()));
      }
    });

    it('records a snapshot and lists it back: images, origins, sources, package counts, deployments', async () => {
      await withStore(backend, async (store) => {
        const snap = snapshot(T(1), [web(digest(1)), webSpec(digest(100)), api(digest(2)), { ...legacy(digest(3)), packages: [], inventory: 'none', error: 'layer sha256:… is not a gzip stream' }], {
          deployments: [run('deploy/web.yaml', 'Deployment/web', digest(1)), { file: 'deploy/compose.yaml', workload: 'service api', reference: `${REGISTRY}/api:latest` }],
        });
        await store.ping(); // what /healthz asks
        const result = await store.recordSnapshot(snap, [], { finishedAt: T(1, 5) });
        assert.equal(result.newImages, 4);
        assert.equal(result.packageLinksWritten, 5 + 5 + 4);
        assert.equal(result.refresh.durationMs, 5 * 60_000);

        const images = await store.listImages();
        assert.deepEqual(images.map((i) => [i.name, i.digest, i.source, i.packageCount]), [
          ['api', digest(2), 'registry', 4],
          ['legacy', digest(3), 'registry', 0],
          ['web', `lock:${digest(100)}`, 'both', 5],
          ['web', digest(1), 'both', 5],
        ]);
        assert.deepEqual(images.find((i) => i.name === 'legacy')!.error, 'layer sha256:… is not a gzip stream');
        assert.deepEqual(images[3]!.origins, [{ kind: 'registry', reference: `${REGISTRY}/web:1`, state: 'current' }]);
        assert.ok(images.every((i) => !i.stale && i.openFixes === 0));

        const detail = await store.imageDetail(digest(1));
        assert.ok(detail);
        assert.deepEqual(detail.packages, [...BASE, ...SSL_OLD].sort((a, b) => a.name.localeCompare(b.name)));
        assert.deepEqual(detail.deployments.map((d) => [d.file, d.workload, d.container, d.current]), [['deploy/web.yaml', 'Deployment/web', 'main', true]]);
        assert.equal(detail.image.release, 'bookworm');
        assert.equal(await store.imageDetail(digest(99)), undefined);

        assert.deepEqual((await store.sourceStatus()).map((s) => [s.source, s.lastGoodRead, s.stale]), [
          ['manifests deploy/compose.yaml', T(1), false],
          ['manifests deploy/web.yaml', T(1), false],
          ['registry 127.0.0.1:5000', T(1), false],
          ['registry 127.0.0.1:6000', T(1), false],
          ['spec specs/web/pith.yaml', T(1), false],
        ]);
        assert.deepEqual(await store.refreshes(), [{ startedAt: T(1), finishedAt: T(1, 5), durationMs: 300_000, images: 4, sourceErrors: 0, imageErrors: 1 }]);
      });
    });

    it('records a refresh where one image changed without rewriting the others', async () => {
      await withStore(backend, async (store) => {
        const images = Array.from({ length: 30 }, (_, n) => ({ ...api(digest(n + 1)), origins: [{ kind: 'registry' as const, registry: REGISTRY, repository: `app${n}`, tag: '1' }] }));
        await store.recordSnapshot(snapshot(T(1), images), []);
        images[7] = { ...images[7]!, digest: digest(500), packages: [...BASE, ...SSL_NEW] };
        const second = await store.recordSnapshot(snapshot(T(2), images), []);
        assert.deepEqual([second.newImages, second.relinkedImages, second.packageLinksWritten, second.movedOrigins], [1, 0, 5, 1]);
        const listed = await store.listImages();
        assert.equal(listed.length, 30);
        assert.ok(listed.some((i) => i.digest === digest(500)) && !listed.some((i) => i.digest === digest(8)));
        // The replaced digest keeps its page, with the origin's history.
        const old = await store.imageDetail(digest(8));
        assert.equal(old?.listed, false);
        assert.deepEqual(old?.history, [
          { origin: `${REGISTRY}/app7:1`, digest: digest(8), since: T(1), until: T(2) },
          { origin: `${REGISTRY}/app7:1`, digest: digest(500), since: T(2) },
        ]);
        assert.deepEqual(old?.origins, [{ kind: 'registry', reference: `${REGISTRY}/app7:1`, state: 'current', pointsHere: false }]);
        // An image whose layers could not be read before is read anew when they can.
        const broken = { ...images[3]!, packages: [], inventory: 'none' as const, error: 'unreadable' };
        const third = await store.recordSnapshot(snapshot(T(3), [...images.slice(0, 3), broken, ...images.slice(4)]), []);
        assert.equal(third.packageLinksWritten, 0);
        const fourth = await store.recordSnapshot(snapshot(T(4), images), []);
        assert.deepEqual([fourth.newImages, fourth.relinkedImages, fourth.packageLinksWritten], [0, 1, 4]);
        assert.equal((await store.imageDetail(images[3]!.digest))?.packages.length, 4);
      });
    });

    it('keeps a finding\'s first-seen time across refreshes, and resolves it when the origin moves to a digest without it', async () => {
      await withStore(backend, async (store) => {
        const old = digest(1);
        const fixed = digest(2);
        const deploy = (d: string) => [run('deploy/web.yaml', 'Deployment/web', d)];
        // 01:00 the advisory is known, no fix yet; 03:00 the archive has the fix; 05:00 web:1 is rebuilt; 08:00 rolled out.
        await store.recordSnapshot(snapshot(T(1), [web(old)], { deployments: deploy(old) }), [...sslFindings(old, false), zlibFinding(old)]);
        await store.recordSnapshot(snapshot(T(3), [web(old)], { deployments: deploy(old) }), [...sslFindings(old, true), zlibFinding(old)]);
        let detail = await store.imageDetail(old);
        assert.deepEqual(detail?.findings.map((f) => [f.id, f.package, f.firstSeen, f.fixFirstSeen, f.fixAvailable]), [
          ['CVE-2023-45853', 'zlib1g', T(1), undefined, false],
          ['CVE-2025-9230', 'libssl3', T(1), T(3), true],
          ['CVE-2025-9230', 'openssl', T(1), T(3), true],
        ]);
        assert.equal((await store.listImages())[0]!.openFixes, 1, 'one advisory with a fix, in two packages');
        assert.deepEqual(await store.patchTimeline(), []);

        await store.recordSnapshot(snapshot(T(5), [web(fixed, [...BASE, ...SSL_NEW])], { deployments: deploy(old) }), [zlibFinding(fixed)]);
        await store.recordSnapshot(snapshot(T(8), [web(fixed, [...BASE, ...SSL_NEW])], { deployments: deploy(fixed) }), [zlibFinding(fixed)]);

        const [event, ...rest] = await store.patchTimeline();
        assert.deepEqual(rest, [], 'the zlib finding, without a fix, is still open');
        assert.deepEqual(event, {
          id: 'CVE-2025-9230', origin: `${REGISTRY}/web:1`, image: 'web', severity: 'high', packages: ['libssl3', 'openssl'],
          firstSeen: T(1), fixAvailableAt: T(3), fixedAt: T(5), fixedDigest: fixed, deployedAt: T(8),
          secondsToImage: 2 * 3600, secondsToDeploy: 5 * 3600,
        });
        const summary = await store.fleetSummary();
        assert.deepEqual(summary.timeToPatch, { resolved: 1, medianSeconds: 7200, p95Seconds: 7200, deployed: 1, deployMedianSeconds: 18_000, deployP95Seconds: 18_000 });
        assert.deepEqual(summary.openFixes, { total: 0, bySeverity: {} });
        // The zlib finding followed the lineage to the new digest: still first seen at 01:00 there.
        detail = await store.imageDetail(fixed);
        assert.deepEqual(detail?.findings.map((f) => [f.id, f.firstSeen]), [['CVE-2023-45853', T(5)]]);
        assert.deepEqual(detail?.deployments.map((d) => [d.workload, d.firstSeen, d.current]), [['Deployment/web', T(8), true]]);
        assert.deepEqual((await store.imageDetail(old))?.deployments.map((d) => [d.workload, d.current]), [['Deployment/web', false]]);
      });
    });

    it('keeps what it knew of an image it cannot read this time, and does not count an unreadable digest as a fix', async () => {
      await withStore(backend, async (store) => {
        const old = digest(1);
        const fixed = digest(2);
        await store.recordSnapshot(snapshot(T(1), [web(old)]), sslFindings(old, true));
        // 02:00 web:1's layers cannot be read; 03:00 web:1 moves to a digest whose layers cannot be read either.
        await store.recordSnapshot(snapshot(T(2), [{ ...web(old), packages: [], inventory: 'none', error: 'blob unknown' }]), []);
        let [image] = await store.listImages();
        assert.deepEqual([image!.packageCount, image!.openFixes, image!.inventory, image!.error], [5, 1, 'sbom', 'blob unknown']);
        assert.equal((await store.searchPackage('libssl3', '3.0.16-1~deb12u1')).length, 1);
        await store.recordSnapshot(snapshot(T(3), [{ ...web(fixed), packages: [], inventory: 'none', error: 'blob unknown' }]), []);
        assert.deepEqual(await store.patchTimeline(), [], 'nothing is known to be fixed in a digest that could not be read');
        // 04:00 the new digest is read: it was fixed when web:1 first pointed at it.
        await store.recordSnapshot(snapshot(T(4), [web(fixed, [...BASE, ...SSL_NEW])]), []);
        [image] = await store.listImages();
        assert.deepEqual([image!.digest, image!.packageCount, image!.error], [fixed, 5, undefined]);
        assert.deepEqual((await store.patchTimeline()).map((e) => [e.id, e.fixedAt, e.fixedDigest, e.secondsToImage]), [['CVE-2025-9230', T(3), fixed, 2 * 3600]]);
      });
    });

    it('keeps the images of a source that fails as stale, with the time of its last good read, and drops what is really gone', async () => {
      await withStore(backend, async (store) => {
        const deploy = [run('deploy/legacy.yaml', 'Deployment/legacy', digest(3), `127.0.0.1:6000/legacy@${digest(3)}`)];
        await store.recordSnapshot(snapshot(T(1), [api(digest(2)), legacy(digest(3))], { deployments: deploy }), [...sslFindings(digest(3), true)]);
        // 02:00: the second registry and the manifests are down; api:latest was deleted from the first.
        await store.recordSnapshot(snapshot(T(2), [], {
          errors: [{ source: 'registry 127.0.0.1:6000', message: 'connect ECONNREFUSED 127.0.0.1:6000' }, { source: 'manifests deploy', message: 'EACCES' }],
          sources: ['registry 127.0.0.1:5000'],
        }), []);
        const images = await store.listImages();
        assert.deepEqual(images.map((i) => [i.name, i.stale, i.lastGoodRead, i.origins[0]!.state]), [['legacy', true, T(1), 'stale']]);
        assert.equal(images[0]!.openFixes, 1, 'a stale image keeps its findings');
        assert.equal((await store.imageDetail(digest(2)))?.listed, false);
        const status = await store.sourceStatus();
        assert.deepEqual(status.find((s) => s.source === 'registry 127.0.0.1:6000'), {
          source: 'registry 127.0.0.1:6000', lastGoodRead: T(1), stale: true, error: 'connect ECONNREFUSED 127.0.0.1:6000', errorAt: T(2),
        });
        assert.deepEqual(status.find((s) => s.source === 'registry 127.0.0.1:5000'), { source: 'registry 127.0.0.1:5000', lastGoodRead: T(2), stale: false });
        const where = await store.searchPackage('libssl3');
        assert.deepEqual(where.map((h) => [h.name, h.stale, h.deployments.map((d) => [d.workload, d.stale])]), [['legacy', true, [['Deployment/legacy', true]]]]);
        assert.deepEqual((await store.refreshes())[0]!.sourceErrors, 2);
        // 02:30: still down; the last good read stays 01:00.
        await store.recordSnapshot(snapshot(T(2, 30), [], { errors: [{ source: 'registry 127.0.0.1:6000/legacy', message: 'timeout' }], sources: ['registry 127.0.0.1:6000'] }), []);
        assert.deepEqual((await store.listImages()).map((i) => [i.name, i.stale, i.lastGoodRead]), [['legacy', true, T(1)]]);
        // 03:00: all back; the stale marks go.
        await store.recordSnapshot(snapshot(T(3), [legacy(digest(3))], { deployments: deploy }), [...sslFindings(digest(3), true)]);
        assert.deepEqual((await store.listImages()).map((i) => [i.name, i.stale, i.origins[0]!.state]), [['legacy', false, 'current']]);
        assert.equal((await store.sourceStatus()).find((s) => s.source === 'registry 127.0.0.1:6000')?.stale, false);
        assert.deepEqual((await store.searchPackage('libssl3'))[0]!.deployments.map((d) => d.stale), [false]);
      });
    });

    it('finds the images that contain a package (at a version) or a CVE, with where each runs', async () => {
      await withStore(backend, async (store) => {
        await store.recordSnapshot(snapshot(T(1), [web(digest(1)), api(digest(2)), legacy(digest(3)), web(digest(4), [...BASE, ...SSL_NEW])].map((i, n) =>
          n === 3 ? { ...i, origins: [{ kind: 'registry' as const, registry: REGISTRY, repository: 'web', tag: '2' }] } : i), {
          deployments: [run('deploy/web.yaml', 'Deployment/web', digest(1)), run('deploy/web-canary.yaml', 'Deployment/web-canary', digest(4))],
        }), [...sslFindings(digest(1), true), ...sslFindings(digest(3), true)]);

        const all = await store.searchPackage('libssl3');
        assert.deepEqual(all.map((h) => [h.name, h.digest, h.installed.version]), [
          ['legacy', digest(3), '3.0.16-1~deb12u1'],
          ['web', digest(1), '3.0.16-1~deb12u1'],
          ['web', digest(4), '3.0.17-1~deb12u2'],
        ]);
        const vulnerable = await store.searchPackage('libssl3', '3.0.16-1~deb12u1');
        assert.deepEqual(vulnerable.map((h) => h.digest), [digest(3), digest(1)]);
        assert.deepEqual(vulnerable[1]!.deployments.map((d) => [d.file, d.workload, d.reference]), [['deploy/web.yaml', 'Deployment/web', `${REGISTRY}/web@${digest(1)}`]]);
        assert.deepEqual(vulnerable[1]!.origins.map((o) => o.reference), [`${REGISTRY}/web:1`]);
        assert.deepEqual(await store.searchPackage('libssl1.1'), []);
        assert.deepEqual((await store.searchPackage('libcurl4')).map((h) => [h.name, h.installed.source, h.installed.architecture]), [['api', 'curl', 'amd64']]);

        const cve = await store.searchCve('cve-2025-9230');
        assert.deepEqual(cve.map((h) => [h.name, h.digest, h.findings.map((f) => f.package), h.deployments.length]), [
          ['legacy', digest(3), ['libssl3', 'openssl'], 0],
          ['web', digest(1), ['libssl3', 'openssl'], 1],
        ]);
        assert.equal(cve[1]!.findings[0]!.fixed, '3.0.17-1~deb12u2');
        assert.deepEqual(await store.searchCve('CVE-1999-0001'), []);
      });
    });

    it('gives summary numbers that agree with the image list and the detail pages', async () => {
      await withStore(backend, async (store) => {
        const images = [web(digest(1)), api(digest(2)), legacy(digest(3)), webSpec(digest(9))];
        await store.recordSnapshot(snapshot(T(1), images), [...sslFindings(digest(1), true), zlibFinding(digest(1)), ...sslFindings(digest(3), true), zlibFinding(digest(2))]);
        const summary = await store.fleetSummary();
        const list = await store.listImages();
        assert.equal(summary.images, list.length);
        assert.equal(summary.openFixes.total, list.reduce((n, i) => n + i.openFixes, 0));
        assert.deepEqual(summary.openFixes, { total: 2, bySeverity: { high: 2 } });
        const details = await Promise.all(list.map((i) => store.imageDetail(i.digest)));
        const distinct = new Set(details.flatMap((d) => d!.packages.map((p) => `${p.name} ${p.version} ${p.architecture}`)));
        assert.equal(summary.packages, distinct.size);
        assert.equal(summary.packageNames, new Set(details.flatMap((d) => d!.packages.map((p) => p.name))).size);
        for (const [n, d] of details.entries()) {
          assert.equal(d!.packages.length, list[n]!.packageCount);
          assert.equal(new Set(d!.findings.filter((f) => f.fixAvailable).map((f) => f.id)).size, list[n]!.openFixes);
        }
        assert.equal(summary.lastRefresh?.startedAt, T(1));
      });
    });

    it('lets a reader during a refresh see the fleet before it or after it, never a mix', async () => {
      await withStore(backend, async (store) => {
        const fleet = (base: number, takenAt: string) => snapshot(takenAt, Array.from({ length: 200 }, (_, n) => ({
          ...api(digest(base + n)),
          origins: [{ kind: 'registry' as const, registry: REGISTRY, repository: `app${n}`, tag: '1' }],
          packages: Array.from({ length: 60 }, (_, p) => pkg(`lib${p}`, `${base}.${p}`)),
        })));
        await store.recordSnapshot(fleet(1000, T(1)), []);
        const writing = store.recordSnapshot(fleet(5000, T(2)), []);
        const seen: string[] = [];
        let done = false;
        void writing.finally(() => { done = true; });
        while (!done) {
          const [list, summary] = await Promise.all([store.listImages(), store.searchPackage('lib0')]);
          const generations = new Set(list.map((i) => Number.parseInt(i.digest.slice(-8), 16) >= 5000 ? 'new' : 'old'));
          assert.equal(list.length, 200, 'never a half-recorded list');
          assert.equal(generations.size, 1, `one refresh at a time, saw ${[...generations]}`);
          assert.equal(summary.length, 200);
          assert.equal(new Set(summary.map((h) => h.installed.version.split('.')[0])).size, 1);
          seen.push([...generations][0]!);
        }
        await writing;
        assert.deepEqual(new Set((await store.listImages()).map((i) => Number.parseInt(i.digest.slice(-8), 16) >= 5000)), new Set([true]));
        assert.ok(seen.length > 0);
      });
    });

    it('records two refreshes handed to it at once one after the other (two services on one database)', async () => {
      await withStore(backend, async (store, location) => {
        // A second connection pool (or PGlite's queue): both insert the same new digests and origins.
        const other = backend.name === 'PGlite' ? store : await openStore(location);
        try {
          const fleet = [web(digest(1)), api(digest(2)), legacy(digest(3))];
          const results = await Promise.all([
            store.recordSnapshot(snapshot(T(1), fleet), sslFindings(digest(1), true)),
            other.recordSnapshot(snapshot(T(2), fleet), sslFindings(digest(1), true)),
          ]);
          assert.deepEqual(results.map((r) => r.newImages).sort(), [0, 3]);
          assert.equal((await store.listImages()).length, 3);
          assert.equal((await store.refreshes()).length, 2);
          assert.equal((await store.imageDetail(digest(1)))?.findings.length, 2);
        } finally {
          if (other !== store) await other.close();
        }
      });
    });

    it('refuses a snapshot that contradicts itself, and leaves the store as it was', async () => {
      await withStore(backend, async (store) => {
        await store.recordSnapshot(snapshot(T(1), [api(digest(2))]), []);
        await assert.rejects(store.recordSnapshot(snapshot(T(2), [api(digest(1)), api(digest(1))]), []),
          (e) => isPithError(e, 'SERVE_SNAPSHOT_INVALID') && e.message.includes(`${digest(1)} twice`));
        await assert.rejects(store.recordSnapshot(snapshot(T(2), [api(digest(1))]), [zlibFinding(digest(7))]),
          (e) => isPithError(e, 'SERVE_SNAPSHOT_INVALID') && e.message.includes(digest(7)));
        await assert.rejects(store.recordSnapshot(snapshot('yesterday', []), []),
          (e) => isPithError(e, 'SERVE_SNAPSHOT_INVALID') && e.message.includes('"yesterday"'));
        // Found only inside the transaction, after images were written: all of it is rolled back.
        await assert.rejects(store.recordSnapshot(snapshot(T(2), [api(digest(1)), { ...api(digest(3)), name: 'api2' }]), []),
          (e) => isPithError(e, 'SERVE_SNAPSHOT_INVALID') && e.message.includes('two images'));
        assert.deepEqual((await store.listImages()).map((i) => i.digest), [digest(2)]);
        assert.equal(await store.imageDetail(digest(1)), undefined);
        assert.equal((await store.refreshes()).length, 1);
      });
    });
  });
}

describe('opening a store', () => {
  it('refuses a --database that is neither a directory nor a postgres URL, and names it', async () => {
    await assert.rejects(openStore('mysql://u:secret@db/x'),
      (e) => isPithError(e, 'SERVE_DATABASE_INVALID') && e.message.includes('mysql://u:***@db/x') && !e.message.includes('secret'));
  });

  it('says which server it could not reach, without the password', async () => {
    const sock = mkdtempSync(join(tmpdir(), 'pith-nopg-'));
    try {
      await assert.rejects(openStore(`postgresql://pith:hunter2@/pith?host=${sock}&port=1`),
        (e) => isPithError(e, 'SERVE_DATABASE_UNAVAILABLE') && e.message.includes('pith:***@') && !e.message.includes('hunter2'));
    } finally {
      rmSync(sock, { recursive: true, force: true });
    }
  });

  it('takes over the lock of a PGlite store whose process died, and gives it up at close', async () => {
    const dir = join(scratch, 'orphaned');
    mkdirSync(dir);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    writeFileSync(join(dir, 'lock'), `${dead}\n`);
    const store = await openStore(dir);
    assert.equal(readFileSync(join(dir, 'lock'), 'utf8'), `${process.pid}\n`);
    await store.close();
    assert.equal(existsSync(join(dir, 'lock')), false);
  });

  it('refuses a store directory it cannot make', async () => {
    const file = join(scratch, 'a-file');
    writeFileSync(file, 'x');
    await assert.rejects(openStore(join(file, 'store')), (e) => isPithError(e, 'SERVE_DATABASE_UNAVAILABLE') && e.message.includes(file));
  });
});

describe('percentile', () => {
  it('interpolates between ranks as percentile_cont does', () => {
    assert.equal(percentile([], 0.5), undefined);
    assert.equal(percentile([10], 0.95), 10);
    assert.equal(percentile([1, 2, 3, 4], 0.5), 2.5);
    assert.equal(percentile([0, 100], 0.95), 95);
  });
});
