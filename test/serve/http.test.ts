/**
 * `pith serve`'s HTTP API against the real thing: the service (startServe) on a PGlite store, refreshing a real
 * docker-registry (an image pith built and pushed with its SBOM, one it did not), the fixture archive, OSV
 * advisories and deployment manifests (test/fixtures/fleet.ts). The API's numbers are checked against each other
 * and /metrics; then Debian publishes a fix, `pith update` closes the loop, and the time to patch appears.
 * Auth: loopback open; another address refuses to start without a token; wrong token 401, right token 200.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isPithError } from '../../src/errors.ts';
import { parseServeConfig } from '../../src/serve/config.ts';
import { startServe, type ServeHandle } from '../../src/serve/service.ts';
import { missingTools } from '../fixtures/apt.ts';
import { FIXED_CVE, FLEET_TOOLS, OLD_CVE, startFleet, type Fleet } from '../fixtures/fleet.ts';
import { exec } from '../fixtures/exec.ts';
import { postgresMissing, PostgresServer } from '../fixtures/postgres.ts';

const skip = missingTools({ ...FLEET_TOOLS });
const scratch = mkdtempSync(join(tmpdir(), 'pith-serve-http-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const registryOptions = { retry: { attempts: 2, baseDelayMs: 10 } };

async function get(svc: ServeHandle, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; text: string; headers: Headers }> {
  const res = await fetch(`${svc.url}${path}`, { headers, redirect: 'manual' });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text, headers: res.headers };
}

async function api(svc: ServeHandle, path: string): Promise<any> {
  const r = await get(svc, path);
  assert.equal(r.status, 200, `${path}: ${r.text}`);
  return r.body;
}

/** Prometheus' text format, read as a scraper does: `name{labels} value` lines, comments skipped. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
    const value = Number(m[2] === '+Inf' ? Infinity : m[2]);
    assert.ok(!Number.isNaN(value), line);
    out.set(m[1]!, value);
  }
  return out;
}

describe('pith serve: the JSON API on a real fleet', { skip }, () => {
  let fleet: Fleet;
  let svc: ServeHandle;
  const logs: string[] = [];

  before(async () => {
    fleet = await startFleet(scratch);
    svc = await startServe({
      config: fleet.config,
      database: join(scratch, 'store'),
      listen: '127.0.0.1:0',
      refresh: { registry: registryOptions, cacheDir: fleet.cacheDir },
      onLog: (l) => logs.push(l),
    });
    await svc.refresh();
  });
  after(async () => {
    await svc?.close();
    await fleet?.stop();
  });

  it('/healthz, /api/images, /api/images/{digest} and /api/summary agree with each other', async () => {
    const health = await get(svc, '/healthz');
    assert.equal(health.status, 200, health.text);
    assert.equal(health.body.status, 'ok');

    const { images } = await api(svc, '/api/images');
    assert.deepEqual(images.map((i: any) => [i.name, i.digest, i.source, i.inventory]), [
      ['other/base', fleet.baseDigest, 'registry', 'status'],
      ['web', fleet.webDigest, 'both', 'sbom'],
    ], logs.join('\n'));
    const web = images.find((i: any) => i.name === 'web');
    assert.equal(web.reference, `${fleet.registry.host}/fleet/web:1`);
    assert.deepEqual(web.origins.map((o: any) => [o.kind, o.state]), [['registry', 'current'], ['registry', 'current'], ['spec', 'current']].sort());
    // Before Debian publishes the fix of CVE-2026-1111, only the foreign image has a fix waiting (CVE-2026-3333's).
    assert.deepEqual(images.map((i: any) => i.openFixes), [1, 0]);

    const summary = await api(svc, '/api/summary');
    assert.equal(summary.images, images.length);
    assert.equal(summary.openFixes.total, images.reduce((n: number, i: any) => n + i.openFixes, 0));
    assert.deepEqual(summary.openFixes.bySeverity, { medium: 1 });
    assert.equal(summary.refresh.last.images, images.length);

    let distinct = new Set<string>();
    for (const image of images) {
      const detail = await api(svc, `/api/images/${encodeURIComponent(image.digest)}`);
      assert.equal(detail.packages.length, image.packageCount, image.name);
      assert.equal(new Set(detail.findings.filter((f: any) => f.fixAvailable).map((f: any) => f.id)).size, image.openFixes, image.name);
      assert.deepEqual(detail.image, image);
      distinct = new Set([...distinct, ...detail.packages.map((p: any) => `${p.name} ${p.version} ${p.architecture}`)]);
    }
    assert.equal(summary.packages, distinct.size);

    const base = await api(svc, `/api/images/${fleet.baseDigest}`);
    assert.deepEqual(base.deployments.map((d: any) => [d.file, d.workload, d.current]), [[join(fleet.deploy, 'compose.yaml'), 'service base', true]]);
    const sources = await api(svc, '/api/sources');
    assert.ok(sources.sources.length >= 3 && sources.sources.every((s: any) => !s.stale), JSON.stringify(sources));
  });

  it('on a PostgreSQL server the service answers the same', { skip: postgresMissing() }, async () => {
    const server = await PostgresServer.start();
    const onPg = await startServe({ config: fleet.config, database: server.url(), listen: '127.0.0.1:0', refresh: { registry: registryOptions, cacheDir: fleet.cacheDir } });
    try {
      await onPg.refresh();
      assert.equal(onPg.store.kind, 'postgres');
      const times = /"(firstSeen|lastGoodRead|startedAt|finishedAt|durationMs|fixFirstSeen|since)": [^,\n]+/g;
      for (const path of ['/api/images', '/api/search?package=libfoo1', `/api/search?cve=${FIXED_CVE}`, `/api/images/${fleet.webDigest}`]) {
        const [pglite, pg] = [await api(svc, path), await api(onPg, path)];
        assert.equal(JSON.stringify(pg, null, 1).replace(times, ''), JSON.stringify(pglite, null, 1).replace(times, ''), path);
      }
      const [a, b] = [await api(svc, '/api/summary'), await api(onPg, '/api/summary')];
      assert.deepEqual([b.images, b.packages, b.openFixes], [a.images, a.packages, a.openFixes]);

      // The server goes away: the refresh fails as a whole, and says so everywhere it can.
      await server.stop();
      await onPg.refresh();
      const health = await get(onPg, '/healthz');
      assert.equal(health.status, 503);
      assert.equal(health.body.status, 'unavailable');
      assert.match(health.body.lastFailure.message, /SERVE_DATABASE_UNAVAILABLE|connect|ECONNREFUSED|ENOENT/);
      const m = parseMetrics((await get(onPg, '/metrics')).text);
      assert.equal(m.get('pith_serve_refresh_errors_total{kind="refresh"}'), 1);
      assert.equal(m.get('pith_serve_refreshes_total'), 1);
      const images = await get(onPg, '/api/images');
      assert.equal(images.status, 500);
      assert.match(images.body.error.message, /the store could not be read/);
    } finally {
      await onPg.close().catch(() => {});
      await server.stop().catch(() => {});
    }
  });

  it('/api/search by package (and version) and by CVE: the images, the versions, and where each runs', async () => {
    const all = await api(svc, '/api/search?package=libfoo1');
    assert.deepEqual(all.query, { package: 'libfoo1' });
    assert.deepEqual(all.images.map((h: any) => [h.name, h.installed.version, h.deployments.map((d: any) => `${d.file} ${d.workload}`)]), [
      ['other/base', '1.0-1', [`${join(fleet.deploy, 'compose.yaml')} service base`]],
      ['web', '1.0-1+deb12u1', [`${join(fleet.deploy, 'k8s', 'web.yaml')} Deployment/web`]],
    ]);
    const one = await api(svc, `/api/search?package=libfoo1&version=${encodeURIComponent('1.0-1+deb12u1')}`);
    assert.deepEqual(one.images.map((h: any) => h.digest), [fleet.webDigest]);
    assert.deepEqual((await api(svc, '/api/search?package=no-such-package')).images, []);

    const fixed = await api(svc, `/api/search?cve=${FIXED_CVE}`);
    assert.deepEqual(fixed.images.map((h: any) => [h.name, h.findings.map((f: any) => [f.package, f.installed, f.fixAvailable, f.severity])]), [
      ['other/base', [['libfoo1', '1.0-1', false, 'high']]],
      ['web', [['libfoo1', '1.0-1+deb12u1', false, 'high']]],
    ]);
    assert.deepEqual(fixed.images[1].deployments.map((d: any) => d.workload), ['Deployment/web']);
    const old = await api(svc, `/api/search?cve=${OLD_CVE.toLowerCase()}`);
    assert.deepEqual(old.images.map((h: any) => h.name), ['other/base'], 'an id in any case');
  });

  it('bad query parameters are 400s saying what was expected; an unknown digest is a 404', async () => {
    const cases: Array<[string, RegExp]> = [
      ['/api/search', /expected package=NAME\[&version=VERSION\] or cve=ID/],
      ['/api/search?package=LibFoo', /package: expected a Debian package name/],
      ['/api/search?package=libfoo1&cve=CVE-2026-1111', /found both/],
      ['/api/search?cve=%3Cscript%3E', /cve: expected an advisory id/],
      ['/api/search?version=1.0', /version: expected with package=NAME/],
      ['/api/search?package=libfoo1&package=libc6', /package: expected once, found 2 times/],
      ['/api/search?package=libfoo1&color=red', /unknown query parameter "color"/],
      ['/api/images/latest', /expected an image digest sha256:HEX/],
      ['/api/images?all=1', /unknown query parameter "all": expected none/],
    ];
    for (const [path, message] of cases) {
      const r = await get(svc, path);
      assert.equal(r.status, 400, path);
      assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
      assert.match(r.body.error.message, message, path);
    }
    const missing = await get(svc, `/api/images/sha256:${'0'.repeat(64)}`);
    assert.equal(missing.status, 404);
    assert.match(missing.body.error.message, /no image sha256:0{64} was ever seen/);
    assert.equal((await get(svc, '/api/nothing')).status, 404);
  });

  it('/metrics is Prometheus text with the fleet\'s series, equal to the API\'s numbers', async () => {
    const r = await get(svc, '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const m = parseMetrics(r.text);
    const summary = await api(svc, '/api/summary');
    assert.equal(m.get('pith_serve_images'), summary.images);
    assert.equal(m.get('pith_serve_packages'), summary.packages);
    assert.equal(m.get('pith_serve_open_security_fixes{severity="medium"}'), 1);
    assert.equal(m.get('pith_serve_refreshes_total'), 1);
    assert.equal(m.get('pith_serve_refresh_duration_seconds_count'), 1);
    assert.equal(m.get('pith_serve_refresh_errors_total{kind="source"}'), 0);
    assert.equal(m.get('pith_serve_refresh_errors_total{kind="refresh"}'), 0);
    assert.ok(Math.abs(m.get('pith_serve_last_refresh_timestamp_seconds')! - Date.parse(summary.lastRefresh.finishedAt) / 1000) < 0.01);
    assert.equal(m.get('pith_serve_time_to_patch_seconds_count{stage="image"}'), 0);
  });

  it('requests during a refresh see the fleet before it or after it, never a mix', async () => {
    // On PostgreSQL (when it runs here) each query may take another pooled connection, so a page's queries could
    // straddle the refresh's commit if the service did not keep them apart; PGlite's one queue hides that.
    const server = postgresMissing() === undefined ? await PostgresServer.start() : undefined;
    const target = server
      ? await startServe({ config: fleet.config, database: server.url(), listen: '127.0.0.1:0', refresh: { registry: registryOptions, cacheDir: fleet.cacheDir } })
      : svc;
    try {
      await target.refresh();
      await concurrentReads(target);
    } finally {
      if (target !== svc) await target.close();
      await server?.stop();
    }
    if (target !== svc) await svc.refresh();
  });

  async function concurrentReads(svc: ServeHandle): Promise<void> {
    const before = await api(svc, '/api/images');
    // The next refresh finds a new tag of the foreign image, and a new image (the same layers, another label) in a
    // new repository: the origins, the image count and the open fixes all change at once.
    const foreign = join(scratch, 'foreign', 'layout');
    for (const args of [
      ['skopeo', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${foreign}:img`, `docker://${fleet.registry.host}/other/base:12`],
      ['umoci', 'config', '--image', `${foreign}:img`, '--tag', 'extra', '--config.label', 'team=extra'],
      ['skopeo', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${foreign}:extra`, `docker://${fleet.registry.host}/other/extra:1`],
    ]) {
      const r = await exec(args[0]!, args.slice(1));
      assert.equal(r.code, 0, r.stderr);
    }
    const seen: string[] = [];
    const pages: string[] = [];
    let done = false;
    const refresh = svc.refresh().finally(() => {
      done = true;
    });
    const readers = Array.from({ length: 8 }, async (_, n) => {
      while (!done) {
        if (n % 2 === 0) seen.push(JSON.stringify(await api(svc, '/api/images')));
        else pages.push((await get(svc, '/')).text);
      }
    });
    await Promise.all([refresh, ...readers]);
    const afterwards = await api(svc, '/api/images');
    assert.deepEqual(afterwards.images.map((i: any) => [i.name, i.openFixes]), [['other/base', 1], ['other/extra', 1], ['web', 0]]);
    const base = afterwards.images.find((i: any) => i.name === 'other/base');
    assert.deepEqual(base.origins.map((o: any) => o.reference), [`${fleet.registry.host}/other/base:12`, `${fleet.registry.host}/other/base:bookworm`]);
    assert.ok(seen.length > 0 && pages.length > 0, 'the readers ran during the refresh');
    const states = new Set([JSON.stringify(before), JSON.stringify(afterwards)]);
    for (const s of seen) assert.ok(states.has(s), `a partial view: ${s}`);
    // A page is several queries: its cards and its table come from one state of the fleet.
    for (const page of pages) {
      const rows = page.split('<tr data-digest=').slice(1).map((row) => [...row.slice(0, row.indexOf('</tr>')).matchAll(/<td class="num">(\d+)<\/td>/g)].map((m) => Number(m[1])));
      const card = (name: string) => Number(new RegExp(`data-metric="${name}">(\\d+)<`).exec(page)![1]);
      assert.ok([2, 3].includes(rows.length), String(rows.length));
      assert.equal(card('images'), rows.length);
      assert.equal(card('open-fixes'), rows.reduce((n, r) => n + r[1]!, 0));
    }
  }

  it('the patch loop: the fix published shows as open fixes, pith update closes it, and the time to patch appears', async () => {
    await fleet.publishFix();
    await svc.refresh();
    const published = await api(svc, '/api/images');
    assert.deepEqual(published.images.map((i: any) => [i.name, i.openFixes]), [['other/base', 2], ['other/extra', 2], ['web', 1]]);
    const summary = await api(svc, '/api/summary');
    assert.deepEqual(summary.openFixes, { total: 5, bySeverity: { high: 3, medium: 2 } });
    const web = await api(svc, `/api/images/${fleet.webDigest}`);
    assert.deepEqual(web.findings.map((f: any) => [f.id, f.fixed, f.fixAvailable]), [[FIXED_CVE, '1.0-1+deb12u2', true]]);
    assert.ok(web.findings[0].fixFirstSeen > web.findings[0].firstSeen, 'the fix was seen after the advisory');

    const newDigest = await fleet.updateWeb();
    await svc.refresh();
    const updated = await api(svc, '/api/images');
    assert.deepEqual(updated.images.map((i: any) => [i.name, i.openFixes]), [['other/base', 2], ['other/extra', 2], ['web', 0]]);
    assert.equal(updated.images[2].digest, newDigest);
    const { events } = await api(svc, '/api/timeline');
    // One per origin whose lineage had it: both tags, and the spec (its new lock is the new image's).
    assert.deepEqual(events.map((e: any) => e.origin).sort(), [`${fleet.registry.host}/fleet/web:1`, `${fleet.registry.host}/fleet/web:stable`, fleet.spec].sort());
    for (const e of events) {
      assert.equal(e.id, FIXED_CVE);
      assert.equal(e.fixedDigest, newDigest);
      assert.equal(e.severity, 'high');
      assert.equal(e.fixAvailableAt, web.findings[0].fixFirstSeen);
      assert.ok(e.secondsToImage > 0 && e.secondsToImage < 3600, String(e.secondsToImage));
      assert.ok(e.deployedAt, 'pith update --rollout pinned the new digest in k8s/web.yaml');
    }
    const after = await api(svc, '/api/summary');
    assert.equal(after.timeToPatch.resolved, events.length);
    assert.ok(after.timeToPatch.medianSeconds > 0);
    const runs = await api(svc, `/api/search?package=libfoo1&version=${encodeURIComponent('1.0-1+deb12u2')}`);
    assert.deepEqual(runs.images.map((h: any) => [h.digest, h.deployments.map((d: any) => d.workload)]), [[newDigest, ['Deployment/web']]]);
    const old = await api(svc, `/api/images/${fleet.webDigest}`);
    assert.equal(old.listed, false, 'the old digest keeps its page');
    assert.deepEqual(old.history.map((h: any) => h.digest).filter((d: string) => d === newDigest).length > 0, true);
    const m = parseMetrics((await get(svc, '/metrics')).text);
    assert.equal(m.get('pith_serve_time_to_patch_seconds_count{stage="image"}'), events.length);
    assert.equal(m.get('pith_serve_open_security_fixes{severity="high"}'), 2, 'the foreign images still have it');
  });
});

describe('pith serve: who may connect', () => {
  const empty = parseServeConfig('', join(scratch, 'empty.yaml'));
  const token = 'a-token-of-32-characters-exactly';

  it('listens on loopback without a token, and closes so the store can be opened again', async () => {
    const db = join(scratch, 'open-store');
    const svc = await startServe({ config: empty, database: db, listen: '127.0.0.1:0', env: {} });
    await svc.refresh();
    assert.equal((await get(svc, '/api/images')).status, 200);
    assert.equal((await get(svc, '/')).status, 200);
    // A name that is not this machine's (a rebinding attacker's) is refused; localhost is served.
    const port = Number(new URL(svc.url).port);
    const withHost = (host: string) => new Promise<number>((resolve, reject) => {
      httpGet({ host: '127.0.0.1', port, path: '/api/images', headers: { Host: host } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      }).on('error', reject);
    });
    assert.equal(await withHost('attacker.example'), 421);
    assert.equal(await withHost(`attacker.example:${port}`), 421);
    assert.equal(await withHost(`localhost:${port}`), 200);
    assert.equal(await withHost(`[::1]:${port}`), 200);
    await svc.close();
    await assert.rejects(fetch(`${svc.url}/healthz`), 'the port is closed');
    const again = await startServe({ config: empty, database: db, listen: '127.0.0.1:0', env: {} });
    await again.close();
  });

  it('/healthz is 503 until the first refresh is recorded; close() does not wait for a refresh still reading', async () => {
    // A registry that accepts connections and never answers: the first refresh cannot end on its own.
    const sockets = new Set<Socket>();
    const silent = createNetServer((s) => sockets.add(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const config = parseServeConfig(`registries:\n  - registry: "${host}"\n`, join(scratch, 'silent.yaml'));
    const svc = await startServe({ config, database: join(scratch, 'silent-store'), listen: '127.0.0.1:0', env: {} });
    try {
      const health = await get(svc, '/healthz');
      assert.equal(health.status, 503);
      assert.equal(health.body.status, 'starting');
      const summary = await get(svc, '/api/summary');
      assert.equal(summary.body.refresh.running, true, 'the API answers meanwhile, from the store');
      const started = Date.now();
      await svc.close();
      assert.ok(Date.now() - started < 5000, `close() took ${Date.now() - started} ms`);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it('refuses to start on another address without PITH_SERVE_TOKEN, before opening anything', async () => {
    const db = join(scratch, 'refused-store');
    await assert.rejects(startServe({ config: empty, database: db, listen: '0.0.0.0:0', env: {} }), (e: unknown) => {
      assert.ok(isPithError(e, 'SERVE_TOKEN_REQUIRED'), String(e));
      assert.match((e as Error).message, /--listen 0\.0\.0\.0:0 is not a loopback address.*PITH_SERVE_TOKEN/s);
      return true;
    });
    assert.equal(existsSync(db), false);
    await assert.rejects(startServe({ config: empty, database: db, listen: '0.0.0.0:0', env: { PITH_SERVE_TOKEN: 'short' } }), (e: unknown) => isPithError(e, 'SERVE_TOKEN_REQUIRED'));
    await assert.rejects(startServe({ config: empty, database: db, listen: 'nowhere', env: {} }), (e: unknown) => isPithError(e, 'SERVE_LISTEN_INVALID'));
  });

  it('with a token: wrong or missing is 401 (pages go to the login form), right is 200; /healthz stays open', async () => {
    const svc = await startServe({ config: empty, database: join(scratch, 'token-store'), listen: '0.0.0.0:0', env: { PITH_SERVE_TOKEN: token } });
    try {
      await svc.refresh();
      const port = new URL(svc.url).port;
      const at = (path: string, init: RequestInit = {}) => fetch(`http://127.0.0.1:${port}${path}`, { redirect: 'manual', ...init });
      assert.equal((await at('/healthz')).status, 200);
      const none = await at('/api/images');
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="pith serve"');
      assert.equal((await at('/api/images', { headers: { Authorization: `Bearer ${token}x` } })).status, 401);
      assert.equal((await at('/api/images', { headers: { Authorization: 'Bearer ' } })).status, 401);
      assert.equal((await at('/metrics', { headers: { Authorization: 'Basic eDp5' } })).status, 401);
      assert.equal((await at('/api/images', { headers: { Authorization: `Bearer ${token}` } })).status, 200);
      assert.equal((await at('/metrics', { headers: { Authorization: `Bearer ${token}` } })).status, 200);

      const page = await at('/search?q=libfoo1');
      assert.equal(page.status, 303);
      assert.equal(page.headers.get('location'), '/login?next=%2Fsearch%3Fq%3Dlibfoo1');
      const form = (t: string, next: string) => at('/login', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: t, next }).toString() });
      const wrong = await form('wrong', '/');
      assert.equal(wrong.status, 401);
      assert.equal(wrong.headers.get('set-cookie'), null);
      const right = await form(token, 'https://elsewhere.invalid/');
      assert.equal(right.status, 303);
      assert.equal(right.headers.get('location'), '/', 'never a redirect off the site');
      const cookie = right.headers.get('set-cookie')!;
      assert.match(cookie, /^pith_serve_session=[\w-]+; HttpOnly; SameSite=Strict; Path=\//);
      assert.ok(!cookie.includes(token), 'the cookie is not the token');
      const session = cookie.split(';')[0]!;
      const signedIn = await at('/', { headers: { Cookie: session } });
      assert.equal(signedIn.status, 200);
      assert.match(await signedIn.text(), /<h1>Fleet overview<\/h1>/);
      assert.equal((await at('/', { headers: { Cookie: `${session}x` } })).status, 303);
    } finally {
      await svc.close();
    }
  });
});

describe('pith serve --auto-update', { skip }, () => {
  it('updates a spec whose image has a fix available, pushes it where the old one was, and records the time to patch', async () => {
    const dir = join(scratch, 'auto');
    mkdirSync(dir, { recursive: true });
    const fleet = await startFleet(dir);
    const svc = await startServe({
      config: fleet.config,
      database: join(dir, 'store'),
      listen: '127.0.0.1:0',
      autoUpdate: true,
      refresh: { registry: registryOptions, cacheDir: fleet.cacheDir },
    });
    try {
      await svc.refresh();
      // The foreign image has a fix waiting, but no spec to update it from; web has none yet.
      assert.deepEqual((await api(svc, '/api/sources')).autoUpdates, []);

      await fleet.publishFix();
      await svc.refresh();
      const { autoUpdates } = await api(svc, '/api/sources');
      assert.equal(autoUpdates.length, 1, JSON.stringify(autoUpdates));
      const [u] = autoUpdates;
      assert.deepEqual([u.spec, u.image, u.digest, u.advisories, u.updated, u.error], [fleet.spec, 'web', fleet.webDigest, [FIXED_CVE], true, undefined]);
      assert.deepEqual(u.pushed.sort(), [`${fleet.registry.host}/fleet/web:1@${u.newDigest}`, `${fleet.registry.host}/fleet/web:stable@${u.newDigest}`]);

      // The refresh after the update saw the new image in the registry: the fix's time to patch is recorded.
      const { images } = await api(svc, '/api/images');
      assert.deepEqual(images.map((i: any) => [i.name, i.digest, i.openFixes]), [['other/base', fleet.baseDigest, 2], ['web', u.newDigest, 0]]);
      const { events } = await api(svc, '/api/timeline');
      assert.deepEqual(events.map((e: any) => [e.id, e.fixedDigest]), Array(3).fill([FIXED_CVE, u.newDigest]));
      assert.ok(events.every((e: any) => e.secondsToImage > 0 && e.deployedAt === undefined), 'the manifests are left to the rollout');

      await svc.refresh();
      assert.equal((await api(svc, '/api/sources')).autoUpdates.length, 1, 'nothing more to update');
    } finally {
      await svc.close();
      await fleet.stop();
    }
  });
});
