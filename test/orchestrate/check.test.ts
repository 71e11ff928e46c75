import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { check, isPithError, loadAdvisories, lock, where } from 'pith';
import { missingTools } from '../fixtures/apt.ts';
import { pithCli } from '../fixtures/exec.ts';
import { securityFixSuites } from '../fixtures/security-fix.ts';
import { buildFixtureArchive, fixtureSpec, startFixtureArchive, type FixtureArchive } from '../fixtures/archive.ts';

const skip = missingTools({ 'dpkg-deb': 'dpkg', xz: 'xz-utils', zip: 'zip' });
const scratch = mkdtempSync(join(tmpdir(), 'pith-check-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const cacheDir = join(scratch, 'cache');
const pith = (args: string[]) => pithCli(args, { XDG_CACHE_HOME: join(scratch, 'xdg') });


const osv = (id: string, ecosystem: string, name: string, fixed: string) => ({
  schema_version: '1.6.0',
  id,
  aliases: id.startsWith('DEBIAN-') ? [id.slice(7)] : [],
  affected: [{ package: { ecosystem, name }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed }] }] }],
});

describe('pith check and pith where', { skip }, () => {
  let server: FixtureArchive;
  const fleet = join(scratch, 'fleet');
  const feeds = join(scratch, 'feeds');
  let appSpec: string;

  before(async () => {
    server = await startFixtureArchive(join(scratch, 'archive'));
    for (const [dir, packages] of [['app', 'app'], ['tools/awk', 'mawk']] as const) {
      mkdirSync(join(fleet, dir), { recursive: true });
      writeFileSync(join(fleet, dir, 'pith.yaml'), fixtureSpec(server, `packages: [${packages}]\n`, dir.replace('/', '-')));
      await lock(join(fleet, dir, 'pith.yaml'), { cacheDir });
    }
    appSpec = join(fleet, 'app', 'pith.yaml');
    // Debian publishes the fix; the feeds describe it.
    await buildFixtureArchive(server.root, securityFixSuites(), server.key);
    mkdirSync(join(feeds, 'osv'), { recursive: true });
    writeFileSync(join(feeds, 'osv', 'DEBIAN-CVE-2026-1111.json'), JSON.stringify(osv('DEBIAN-CVE-2026-1111', 'Debian:12', 'foo', '1.0-1+deb12u2')));
    writeFileSync(join(feeds, 'osv', 'DEBIAN-CVE-2026-9999.json'), JSON.stringify(osv('DEBIAN-CVE-2026-9999', 'Debian:12', 'no-such-source', '1.0-2')));
    writeFileSync(join(feeds, 'osv', 'DEBIAN-CVE-2026-8888.json'), JSON.stringify(osv('DEBIAN-CVE-2026-8888', 'Debian:11', 'foo', '0.9-2')));
    writeFileSync(join(feeds, 'tracker.json'), JSON.stringify({
      foo: { 'CVE-2026-1111': { releases: { bookworm: { status: 'resolved', fixed_version: '1.0-1+deb12u2', urgency: 'high' } } } },
      glibc: { 'CVE-2026-2222': { releases: { bookworm: { status: 'resolved', fixed_version: '0', urgency: 'unimportant' } } } },
      'no-such-source': { 'CVE-2026-7777': { releases: { bookworm: { status: 'open', urgency: 'low' } } } },
    }));
  });
  after(() => server?.close());

  it('reports the security update, explained by its changelog, and the CVE from both OSV and the tracker', async () => {
    const report = await check([fleet], { cacheDir, advisories: [join(feeds, 'osv'), join(feeds, 'tracker.json')] });
    assert.deepEqual(report.images.map((i) => i.name), ['app', 'tools-awk']);
    const [app, awk] = report.images;
    assert.deepEqual(app!.release, { ecosystem: 'Debian:12', codename: 'bookworm' });
    assert.deepEqual(app!.updates.map((x) => [x.name, x.security]), [['libbar2', false], ['libfoo1', true]]);
    const u = app!.updates.find((x) => x.name === 'libfoo1')!;
    assert.deepEqual([u.name, u.source, u.locked, u.candidate, u.suite, u.security], ['libfoo1', 'foo', '1.0-1+deb12u1', '1.0-1+deb12u2', 'fixture-security', true]);
    assert.deepEqual(u.changelog?.map((e) => e.version), ['1.0-1+deb12u2'], 'only the entries after the locked version');
    assert.deepEqual([u.cves, u.urgency], [['CVE-2026-1111'], 'high']);
    assert.equal(app!.findings.length, 1);
    const f = app!.findings[0]!;
    assert.deepEqual(
      [f.id, f.package, f.source, f.installed, f.fixed, f.fixAvailable, f.candidate, f.suite, f.severity, [...f.feeds].sort()],
      ['CVE-2026-1111', 'libfoo1', 'foo', '1.0-1+deb12u1', '1.0-1+deb12u2', true, '1.0-1+deb12u2', 'fixture-security', 'high', ['osv', 'tracker']],
    );
    assert.deepEqual([awk!.updates, awk!.findings], [[], []], 'mawk has no update and no advisory');
    assert.equal(report.advisories.unknownPackage, 2, 'the OSV record and the tracker entry for a source no image contains are ignored and counted');
    assert.equal(report.advisories.skipped, 2, 'the Debian:11 record, and glibc not affected in bookworm (fixed_version "0")');
    assert.deepEqual([report.security, report.any], [true, true]);
  });

  it('reads OSV records from a zip, and a tracker URL once, then conditionally', async () => {
    const zip = join(feeds, 'osv.zip');
    const made = spawnSync('zip', ['-q', '-j', zip, join(feeds, 'osv', 'DEBIAN-CVE-2026-1111.json'), join(feeds, 'osv', 'DEBIAN-CVE-2026-8888.json')]);
    assert.equal(made.status, 0, String(made.stderr));
    const body = readFileSync(join(feeds, 'tracker.json'));
    const seen: Array<string | undefined> = [];
    const http = createServer((req, res) => {
      seen.push(req.headers['if-none-match']);
      if (req.headers['if-none-match'] === '"v1"') return void res.writeHead(304).end();
      res.writeHead(200, { ETag: '"v1"', 'Content-Type': 'application/json' }).end(body);
    });
    await new Promise<void>((ok) => http.listen(0, '127.0.0.1', ok));
    try {
      const url = `http://127.0.0.1:${(http.address() as { port: number }).port}/tracker.json`;
      const options = { ecosystem: 'Debian:12', codename: 'bookworm', cacheDir };
      const first = await loadAdvisories([zip, url], options);
      const second = await loadAdvisories([url], options);
      assert.deepEqual(first.sources.map((s) => s.cache), [undefined, 'fresh']);
      assert.deepEqual(second.sources.map((s) => s.cache), ['revalidated']);
      assert.deepEqual(seen, [undefined, '"v1"']);
      assert.deepEqual(first.advisories.map((a) => `${a.feed} ${a.id} ${a.source}`).sort(), ['osv CVE-2026-1111 foo', 'tracker CVE-2026-1111 foo', 'tracker CVE-2026-7777 no-such-source']);
      assert.deepEqual(second.advisories.map((a) => a.id).sort(), ['CVE-2026-1111', 'CVE-2026-7777']);
    } finally {
      http.close();
    }
  });

  it('a malformed record is an error naming the file and the record', async () => {
    const bad = join(scratch, 'bad-osv');
    mkdirSync(bad);
    writeFileSync(join(bad, 'x.json'), JSON.stringify({ id: 'DEBIAN-CVE-2026-5555', affected: [{ package: { ecosystem: 'Debian:12' } }] }));
    await assert.rejects(check([appSpec], { cacheDir, advisories: [bad] }), (e: unknown) => isPithError(e, 'ADVISORY_INVALID') && e.message.includes(`${join(bad, 'x.json')} (DEBIAN-CVE-2026-5555) affected[0].package: expected string "ecosystem" and "name"`));
  });

  it('pith where finds the images containing a package, by binary or source name, at a version', () => {
    assert.deepEqual(where('foo', [fleet]).map((h) => [h.name, h.package, h.version]), [['app', 'libfoo1', '1.0-1+deb12u1']]);
    assert.deepEqual(where('libc6@2.36-9', [fleet]).map((h) => h.name), ['app', 'tools-awk']);
    assert.deepEqual(where('libfoo1@1.0-1+deb12u2', [fleet]), []);
  });

  it('the CLI prints a table, --json, and exits 4 when --fail-on is met; a re-locked image checks clean', async () => {
    const advisories = ['--advisories', join(feeds, 'osv'), '--advisories', join(feeds, 'tracker.json')];
    const table = await pith(['check', fleet, ...advisories, '--fail-on', 'security']);
    assert.equal(table.code, 4, table.stderr);
    assert.match(table.stdout, /libfoo1 1\.0-1\+deb12u1 -> 1\.0-1\+deb12u2 \(fixture-security\) \[security, urgency high, CVE-2026-1111\]/);
    assert.match(table.stdout, /CVE-2026-1111\tlibfoo1\/amd64\tfoo 1\.0-1\+deb12u1/);
    assert.match(table.stdout, /2 for packages no image contains \(ignored\)/);
    const json = await pith(['check', join(fleet, 'tools'), ...advisories, '--json', '--fail-on', 'security']);
    assert.equal(json.code, 0, json.stderr);
    assert.equal(JSON.parse(json.stdout).images[0].name, 'tools-awk');
    const help = await pith(['check', '--help']);
    assert.match(help.stdout, /4  pith check --fail-on/);
    const whereOut = await pith(['where', 'foo', fleet]);
    assert.match(whereOut.stdout, /^app\tamd64\tlibfoo1 1\.0-1\+deb12u1/);

    await lock(appSpec, { cacheDir });
    const clean = await pith(['check', fleet, ...advisories, '--fail-on', 'any']);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.match(clean.stdout, /up to date, no known advisories/);
  });
});
