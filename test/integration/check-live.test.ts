// The patch loop against the machine's real archive: a spec locked with only the main suites, then checked with
// the security suite added, reports the real security updates, explained by the CVE ids in their real changelogs.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { check, loadAptSources, lock } from 'pith';
import { liveArchiveProblem } from '../fixtures/live-archive.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-check-live-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const problem = await liveArchiveProblem();
// Libraries nearly every image carries, and which Debian patches often.
const PACKAGES = ['libc6', 'libssl3', 'zlib1g', 'libexpat1', 'libxml2', 'libsqlite3-0', 'libcurl4', 'libgnutls30', 'libkrb5-3', 'libsystemd0'];

test("a lock made without the security suite: check with it reports real security updates with their changelogs' CVEs", { skip: problem }, async () => {
  const all = loadAptSources();
  const mainOnly = all.map((s) => ({ ...s, suites: s.suites.filter((x) => !x.endsWith('-security')) })).filter((s) => s.suites.length > 0);
  assert.ok(all.some((s) => s.suites.some((x) => x.endsWith('-security'))), 'the machine\'s apt sources have a security suite');
  const spec = join(scratch, 'pith.yaml');
  writeFileSync(spec, `name: live\npackages: [${PACKAGES.join(', ')}]\n`);
  const cacheDir = join(scratch, 'cache');
  await lock(spec, { cacheDir, sources: mainOnly });
  const report = await check([spec], { cacheDir, sources: all });
  const [image] = report.images;
  const security = image!.updates.filter((u) => u.security);
  assert.ok(security.length > 0, `expected security updates for some of ${PACKAGES.join(', ')}, found: ${image!.updates.map((u) => `${u.name} ${u.suite}`).join(', ') || 'none'}`);
  for (const u of security) {
    assert.match(u.suite, /-security$/);
    assert.ok(u.changelog === undefined || u.changelog.length > 0, `${u.name}: the entries after ${u.lockedSourceVersion}`);
  }
  const cves = security.flatMap((u) => u.cves);
  assert.ok(cves.length > 0 && cves.every((c) => /^CVE-\d{4}-\d{4,}$/.test(c)), `CVE ids from the real changelogs: ${cves.join(' ')}`);
  console.log(security.map((u) => `${u.name} ${u.locked} -> ${u.candidate} (${u.suite}) ${u.urgency ?? ''} ${u.cves.join(' ')}`).join('\n'));
});
