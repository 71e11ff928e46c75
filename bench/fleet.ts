// bench/fleet: issue 13 §4 — a fleet update split across workers that share nothing but a registry.
// FLEET specs (default 100; each with its own small files: layer, all carrying `app` and its closure) are locked and
// built once, publishing to the registry build cache (the previous CI run). Then the security suite publishes a fix
// of libfoo1, and the fleet is updated — re-lock, rebuild, push to a real docker-registry, pin the new digests in the
// deployment manifests — by 1 worker, then (same fleet state, fresh registry repositories) by WORKERS workers
// (default 4), each a separate `pith update --shard I/N` process with an empty local cache, the
// registry as the only shared state (`--cache-from/--cache-to`). Timed: wall time from start to the last worker done
// (fix in the archive → rollout). Counted: layers compressed (each publication of a layer entry is a revision of its
// tag in the registry's storage), blobs and bytes the pushes sent. The machine has 2 cores: more workers than cores
// measure overlap of waiting (network, registry), not parallel CPU.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, lock } from 'pith';
import { buildFixtureArchive, fixtureSpec, startFixtureArchive } from '../test/fixtures/archive.ts';
import { Registry } from '../test/fixtures/registry.ts';
import { securityFixSuites } from '../test/fixtures/security-fix.ts';

const FLEET = Number(process.env.FLEET ?? 100);
const WORKERS = Number(process.env.WORKERS ?? 4);
const bin = new URL('../bin/pith.js', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'pith-bench-fleet-'));

interface Update { updated: boolean; pushedBlobs?: { uploaded: number; mounted: number; skipped: number; bytesSent: number } }

function worker(args: string[]): Promise<Update[]> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => (code === 0 ? ok(JSON.parse(out) as Update[]) : fail(new Error(`pith ${args.slice(0, 3).join(' ')}… exited ${code}\n${err.slice(-2000)}`))));
  });
}

/** Layer entries published to a cache repository, counting each revision: one per compression. */
function compressions(registry: Registry, repo: string): { layers: number; compressions: number } {
  const tags = join(registry.storage, 'docker/registry/v2/repositories', repo, '_manifests/tags');
  if (!existsSync(tags)) return { layers: 0, compressions: 0 };
  const revisions = readdirSync(tags).filter((t) => t.startsWith('pith-layer-')).map((t) => readdirSync(join(tags, t, 'index', 'sha256')).length);
  return { layers: revisions.length, compressions: revisions.reduce((a, b) => a + b, 0) };
}

try {
  const server = await startFixtureArchive(join(scratch, 'archive'));
  const registry = await Registry.start(join(scratch, 'registry'));
  try {
    const fleet = join(scratch, 'fleet');
    const deploy = join(scratch, 'deploy');
    mkdirSync(deploy, { recursive: true });
    const setupCache = join(scratch, 'setup-cache');
    const setup = performance.now();
    for (let i = 0; i < FLEET; i++) {
      const dir = join(fleet, `svc${i}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'config'), `service ${i}\n`);
      writeFileSync(join(dir, 'pith.yaml'), fixtureSpec(server, 'packages: [app]\nfiles:\n  - from: config\n    to: /etc/svc/config\n', `svc${i}`));
      await lock(join(dir, 'pith.yaml'), { cacheDir: setupCache });
      await build(join(dir, 'pith.yaml'), { cacheDir: setupCache, cacheTo: [`docker://${registry.host}/ci/cache-1`, `docker://${registry.host}/ci/cache-${WORKERS}`], outputs: [`oci:${join(scratch, 'old')}:svc${i}`] });
      writeFileSync(join(deploy, `svc${i}.compose.yaml`), `services:\n  svc${i}:\n    image: ${registry.host}/fleet/svc${i}:1 # deployed\n`);
    }
    const setupMs = performance.now() - setup;
    await buildFixtureArchive(server.root, securityFixSuites(), server.key);
    const before = { 1: compressions(registry, 'ci/cache-1'), [WORKERS]: compressions(registry, `ci/cache-${WORKERS}`) };

    const run = async (workers: number) => {
      // Each run starts from the fleet as the repository holds it: specs and the old locks, fresh deployment files.
      const tree = join(scratch, `run-${workers}`);
      cpSync(fleet, join(tree, 'fleet'), { recursive: true });
      cpSync(deploy, join(tree, 'deploy'), { recursive: true });
      const cache = `docker://${registry.host}/ci/cache-${workers}`;
      const start = performance.now();
      const results = await Promise.all(
        Array.from({ length: workers }, (_, w) =>
          worker([
            'update', join(tree, 'fleet'), '--shard', `${w + 1}/${workers}`,
            '--only', 'security', '--cache', join(tree, `cache-${w}`), '--cache-from', cache, '--cache-to', cache,
            '--push', `${registry.host}/fleet-${workers}/{name}:2`, '--rollout', join(tree, 'deploy'), '--parallel', '2', '--json',
          ]),
        ),
      );
      const ms = performance.now() - start;
      const all = results.flat();
      const sent = all.reduce((n, r) => n + (r.pushedBlobs?.bytesSent ?? 0), 0);
      const uploaded = all.reduce((n, r) => n + (r.pushedBlobs?.uploaded ?? 0), 0);
      const mounted = all.reduce((n, r) => n + (r.pushedBlobs?.mounted ?? 0), 0);
      const c = compressions(registry, `ci/cache-${workers}`);
      return { ms, updated: all.filter((r) => r.updated).length, sent, uploaded, mounted, newLayers: c.layers - before[workers]!.layers, compressed: c.compressions - before[workers]!.compressions };
    };
    const one = await run(1);
    const many = await run(WORKERS);
    console.log(`bench:fleet — ${FLEET} specs (set-up: lock + build each, published to the registry cache, ${(setupMs / 1000).toFixed(1)} s); libfoo1's security fix published`);
    for (const [n, r] of [[1, one], [WORKERS, many]] as const) {
      console.log(`  ${n} worker(s), empty local caches: ${(r.ms / 1000).toFixed(1)} s for ${r.updated} images (fix → pushed and pinned); ${r.newLayers} new layers, compressed ${r.compressed} times; pushes uploaded ${r.uploaded} blobs (${(r.sent / 1e3).toFixed(1)} kB), mounted ${r.mounted}`);
    }
    console.log(`  ratio ${WORKERS} workers / 1 worker: ${(many.ms / one.ms).toFixed(2)} (goal ≤ 0.35); each new layer compressed once: ${many.compressed === many.newLayers && one.compressed === one.newLayers ? 'yes' : 'no'}`);
    if (FLEET >= 1000) console.log(`  goal < 60 s for ${FLEET} specs on ${WORKERS} workers: ${many.ms < 60_000 ? 'met' : 'missed'} (${(many.ms / 1000).toFixed(1)} s)`);
  } finally {
    await server.close();
    await registry.stop();
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
