// bench/fresh: issue 13 §4 — the patch loop on a fresh CI machine after the pinned versions left the archive.
// One spec ({app} and its closure on the fixture archive) is locked and built; then the security fix lands and the
// security suite drops the version the lock pins (its .deb is gone from the pool). Timed, each in the same run,
// interleaved, RUNS rounds (median, min–max):
//  - fresh:  `update` with an empty cache and no outputs (a fresh runner): the old image is described from the lock;
//  - warm:   the same update with the cache as the machine that built the old image left it (old image rebuilt
//            from the cache, exact layer diff) — the peer;
//  - rebuild: `build` of the OLD lock on an empty cache with a snapshot service (the .deb that left is fetched from
//            the first snapshot that held it), bit for bit the old digest (checked).
// The fixture archive is small (a dozen packages), so these figures are pith's own overhead, not download time.
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, lock, update } from 'pith';
import { buildFixtureArchive, fixtureSpec, startFixtureArchive } from '../test/fixtures/archive.ts';
import { securityFixSuites } from '../test/fixtures/security-fix.ts';
import { startSnapshotService } from '../test/fixtures/snapshot.ts';

const RUNS = Number(process.env.RUNS ?? 7);
const OLD = 'pool/main/f/foo/libfoo1_1.0-1+deb12u1_amd64.deb';
const scratch = mkdtempSync(join(tmpdir(), 'pith-bench-fresh-'));

interface Stats { median: number; min: number; max: number }
const stats = (xs: number[]): Stats => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s.at(-1)! };
};
const show = (s: Stats) => `${s.median.toFixed(0)} ms (${s.min.toFixed(0)}–${s.max.toFixed(0)})`;

try {
  const server = await startFixtureArchive(join(scratch, 'archive'));
  const snapshots = await startSnapshotService(join(scratch, 'snapshots'));
  try {
    snapshots.record(server.root, 'debian', '20250115T120000Z');
    const project = join(scratch, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'pith.yaml'), fixtureSpec(server, 'packages: [app]\n'));
    const warmCache = join(scratch, 'warm-cache');
    await lock(join(project, 'pith.yaml'), { cacheDir: warmCache });
    const oldDigest = (await build(join(project, 'pith.yaml'), { cacheDir: warmCache, outputs: [`oci:${join(scratch, 'old')}:app`] })).digest;
    const suites = securityFixSuites();
    suites[1]!.components.main = suites[1]!.components.main!.filter((p) => !(p.name === 'libfoo1' && p.version === '1.0-1+deb12u1'));
    await buildFixtureArchive(server.root, suites, server.key);
    rmSync(join(server.root, OLD));
    snapshots.record(server.root, 'debian', '20250301T060000Z');

    /** A copy of the project as the repository holds it: the spec and the old lock, no outputs. */
    const checkout = (name: string) => {
      const dir = join(scratch, name);
      mkdirSync(dir);
      cpSync(join(project, 'pith.yaml'), join(dir, 'pith.yaml'));
      cpSync(join(project, 'pith.lock'), join(dir, 'pith.lock'));
      return dir;
    };
    const times = { fresh: [] as number[], warm: [] as number[], rebuild: [] as number[] };
    const cases: Record<keyof typeof times, (round: number) => Promise<number>> = {
      fresh: async (round) => {
        const dir = checkout(`fresh-${round}`);
        const start = performance.now();
        const [r] = await update([dir], { cacheDir: join(scratch, `fresh-cache-${round}`) });
        const ms = performance.now() - start;
        if (!r?.updated || r.oldImage?.from !== 'lock') throw new Error(`fresh: expected an update from the lock, got ${JSON.stringify(r?.oldImage)}`);
        return ms;
      },
      warm: async (round) => {
        const dir = checkout(`warm-${round}`);
        const cache = join(scratch, `warm-cache-${round}`);
        cpSync(warmCache, cache, { recursive: true });
        const start = performance.now();
        const [r] = await update([dir], { cacheDir: cache });
        const ms = performance.now() - start;
        if (!r?.updated || r.oldImage?.from !== 'rebuilt') throw new Error(`warm: expected the old image rebuilt from the cache, got ${JSON.stringify(r?.oldImage)}`);
        return ms;
      },
      rebuild: async (round) => {
        const dir = checkout(`rebuild-${round}`);
        const start = performance.now();
        const r = await build(dir, { cacheDir: join(scratch, `rebuild-cache-${round}`), snapshot: snapshots.url, outputs: [`oci:${join(dir, 'out')}:app`] });
        const ms = performance.now() - start;
        if (r.digest !== oldDigest) throw new Error(`rebuild: expected ${oldDigest}, got ${r.digest}`);
        return ms;
      },
    };
    const names = Object.keys(cases) as Array<keyof typeof times>;
    for (let round = 0; round < RUNS; round++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(round + k) % names.length]!;
        times[name].push(await cases[name](round));
      }
    }
    const [fresh, warm, rebuild] = [stats(times.fresh), stats(times.warm), stats(times.rebuild)];
    console.log(`bench:fresh — one spec (app + closure, fixture archive), its pinned libfoo1 gone from the archive; ${RUNS} rounds, interleaved`);
    console.log(`  update, fresh machine (empty cache, no outputs; old image from the lock): ${show(fresh)}`);
    console.log(`  update, warm cache (old image rebuilt from the cache; the peer):           ${show(warm)}`);
    console.log(`  ratio fresh/warm (median): ${(fresh.median / warm.median).toFixed(2)}`);
    console.log(`  build of the old lock on an empty cache through the snapshot service: ${show(rebuild)} (digest ${oldDigest.slice(0, 19)}… reproduced each round)`);
    console.log(`  the gone .deb: asked of the live archive ${server.requests.filter((r) => r === `/${OLD}`).length - 1} times after it left (once per rebuild: 404, then the snapshot; never by update), of the snapshot service ${snapshots.requests.filter((r) => r.endsWith('.deb')).length} times`);
  } finally {
    await server.close();
    await snapshots.close();
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
