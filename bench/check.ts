// bench/check: the fleet-scale cost of `pith check` — 1,000 generated locks of ~100 packages each against a
// generated advisory set of 50,000 records (40,000 OSV records in a zip, as OSV exports an ecosystem, plus a
// Debian Security Tracker JSON of 10,000 CVE entries). Measured twice in the same run:
//   advisories: reading both feeds + indexing + matching every locked package of every lock (the work that scales
//               with fleet × feed size);
//   check():    the whole library call over the 1,000 specs, against a fixture archive on 127.0.0.1 (opened and
//               verified once for the fleet), changelogs off — what `pith check DIR --no-changelogs` does.
// Goal: ≤ 2 s (warm). The parsed feeds are cached by their digest, so only a changed feed is parsed again. No peer: osv-scanner is not packaged in Debian 12; its matching is the same per-source lookup.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdvisoryIndex, canonicalJson, check, loadAdvisories, readLock, type LockFile, type LockedPackage } from 'pith';
import { fixtureSpec, startFixtureArchive } from '../test/fixtures/archive.ts';

const LOCKS = Number(process.env.BENCH_LOCKS ?? 1000);
const PACKAGES = 100;
const OSV_RECORDS = 40_000;
const TRACKER_RECORDS = 10_000;
// Debian 12 has ~35,000 source packages; an image fleet draws its packages from a few thousand of them, and most
// advisories about those are fixed in the versions the locks pin (u3 below), a few (u4) not yet.
const SOURCES = 3000;
const ADVISED = 20_000;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

const scratch = mkdtempSync(join(tmpdir(), 'pith-bench-check-'));
let seed = 42;
const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const version = (s: number, u: number) => `${1 + (s % 7)}.${s % 13}-${1 + (s % 3)}${u ? `+deb12u${u}` : ''}`;

try {
  const server = await startFixtureArchive(join(scratch, 'archive'));
  // Feeds.
  const osvDir = join(scratch, 'osv');
  mkdirSync(osvDir);
  for (let i = 0; i < OSV_RECORDS; i++) {
    const s = rand(ADVISED); // most name sources no lock contains: ignored and counted
    writeFileSync(join(osvDir, `DEBIAN-CVE-2026-${10000 + i}.json`), JSON.stringify({
      schema_version: '1.6.0', id: `DEBIAN-CVE-2026-${10000 + i}`, aliases: [`CVE-2026-${10000 + i}`],
      affected: [{ package: { ecosystem: 'Debian:12', name: `src${s}` }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: version(s, rand(50) === 0 ? 4 : 1 + rand(3)) }] }] }],
    }));
  }
  const zip = join(scratch, 'osv.zip');
  const made = spawnSync('sh', ['-c', `cd ${osvDir} && zip -q -r ${zip} .`]);
  if (made.status !== 0) throw new Error(`zip failed: ${made.stderr}`);
  const tracker: Record<string, Record<string, unknown>> = {};
  for (let i = 0; i < TRACKER_RECORDS; i++) {
    const s = rand(ADVISED);
    (tracker[`src${s}`] ??= {})[`CVE-2025-${10000 + i}`] = { releases: { bookworm: { status: i % 50 ? 'resolved' : 'open', fixed_version: i % 50 ? (i % 7 ? version(s, 1 + rand(3)) : '0') : undefined, urgency: 'medium' } } };
  }
  const trackerFile = join(scratch, 'tracker.json');
  writeFileSync(trackerFile, JSON.stringify(tracker));

  // The fleet: one spec per image beside a generated lock.
  const fleet = join(scratch, 'fleet');
  const template = JSON.parse(JSON.stringify({ lockVersion: 1, spec: { digest: 'sha256:' + '0'.repeat(64), inputs: { packages: ['app'], exclude: [], keep: [], architectures: ['amd64'], sources: 'apt' } }, sources: [] })) as LockFile;
  for (let l = 0; l < LOCKS; l++) {
    const dir = join(fleet, `img${l}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'pith.yaml'), fixtureSpec(server, 'packages: [app]\n', `img${l}`));
    const packages: LockedPackage[] = [];
    const seen = new Set<number>();
    while (packages.length < PACKAGES) {
      const s = rand(SOURCES);
      if (seen.has(s)) continue;
      seen.add(s);
      packages.push({ name: `bin${s}`, version: version(s, 3), architecture: 'amd64', source: `src${s}`, sourceVersion: version(s, 3), suite: 'fixture', filename: `pool/main/s/src${s}/bin${s}.deb`, size: 1000, sha256: '0'.repeat(64) });
    }
    packages.sort((a, b) => (a.name < b.name ? -1 : 1));
    const lockFile: LockFile = { ...template, architectures: { amd64: { packages, excluded: [], baseFiles: { ...packages[0]!, name: 'base-files', version: '12.4+deb12u5' } } } };
    writeFileSync(join(dir, 'pith.lock'), canonicalJson(lockFile));
  }

  const advisoryRun = async () => {
    const start = performance.now();
    const set = await loadAdvisories([zip, trackerFile], { ecosystem: 'Debian:12', codename: 'bookworm', cacheDir: join(scratch, 'cache') });
    const index = new AdvisoryIndex(set.advisories);
    let findings = 0;
    for (let l = 0; l < LOCKS; l++) {
      for (const p of readLock(join(fleet, `img${l}`, 'pith.lock')).architectures.amd64!.packages) findings += index.affecting(p.source, p.sourceVersion).length;
    }
    return { ms: performance.now() - start, findings, records: set.advisories.length + set.skipped };
  };
  const checkRun = async () => {
    const start = performance.now();
    const report = await check([fleet], { advisories: [zip, trackerFile], changelogs: false, cacheDir: join(scratch, 'cache') });
    return { ms: performance.now() - start, findings: report.images.reduce((n, i) => n + i.findings.length, 0), unknown: report.advisories.unknownPackage };
  };

  // Cold: the archive's indexes and the feeds' parsed records are not cached yet. Later runs verify InRelease again
  // and read the rest from the cache.
  const cold = await checkRun();
  const a: number[] = [];
  const c: number[] = [];
  let last: { findings: number; records: number } | undefined;
  let lastCheck: { findings: number; unknown: number } | undefined;
  for (let r = 0; r < RUNS; r++) {
    const x = await advisoryRun();
    a.push(x.ms);
    last = x;
    const y = await checkRun();
    c.push(y.ms);
    lastCheck = y;
  }
  await server.close();
  console.log(`bench:check — ${LOCKS} locks × ${PACKAGES} packages, ${OSV_RECORDS + TRACKER_RECORDS} advisory records (${last!.records} read), median of ${RUNS}`);
  console.log(`  advisories (read zip + tracker, index, match every lock): ${median(a).toFixed(0)} ms — ${last!.findings} findings`);
  console.log(`  check() over the fleet (archive warm, no changelogs):      ${median(c).toFixed(0)} ms — ${lastCheck!.findings} findings, ${lastCheck!.unknown} records for sources no image has`);
  console.log(`  check() cold (archive indexes fetched, feeds inflated and parsed): ${cold.ms.toFixed(0)} ms`);
  console.log(`  goal ≤ 2000 ms: ${median(c) <= 2000 ? 'met' : 'missed'} (ratio ${(median(c) / 2000).toFixed(2)})`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
