// bench/update: a fleet of 100 specs (warm cache: each locked and built before), then Debian publishes a security
// fix of a library every image carries; timed: `update` of the whole fleet — minimal re-lock, rebuild of old and
// new, the smoke test of each new image with runc, push to a real docker-registry, and the rollout of the new
// digests into a tree of compose files. Goal < 60 s on this machine.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, lock, update } from 'pith';
import { buildFixtureArchive, fixtureSpec, startFixtureArchive } from '../test/fixtures/archive.ts';
import { Registry } from '../test/fixtures/registry.ts';
import { securityFixSuites } from '../test/fixtures/security-fix.ts';

const SPECS = Number(process.env.BENCH_SPECS ?? 100);
const JOBS = Number(process.env.BENCH_JOBS ?? 2);
const scratch = mkdtempSync(join(tmpdir(), 'pith-bench-update-'));
const cacheDir = join(scratch, 'cache');

try {
  const server = await startFixtureArchive(join(scratch, 'archive'));
  const registry = await Registry.start(join(scratch, 'registry'));
  try {
    const src = join(scratch, 'hello.c');
    writeFileSync(src, '#include <stdio.h>\nint main(void){puts("hello from pith");return 0;}\n');
    const hello = join(scratch, 'hello');
    const cc = spawnSync('gcc', ['-static', '-O2', '-o', hello, src], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`gcc: ${cc.stderr}`);
    const fleet = join(scratch, 'fleet');
    const deploy = join(scratch, 'deploy');
    mkdirSync(deploy, { recursive: true });
    const setup = performance.now();
    for (let i = 0; i < SPECS; i++) {
      const dir = join(fleet, `svc${i}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'hello'), readFileSync(hello), { mode: 0o755 });
      writeFileSync(join(dir, 'pith.yaml'), fixtureSpec(server, `packages: [app]\nfiles:\n  - from: hello\n    to: /usr/local/bin/hello\nenv:\n  SERVICE: svc${i}\nentrypoint: [/usr/local/bin/hello]\ntest:\n  command: [/usr/local/bin/hello]\n  output: hello\n  timeout: 30\n`, `svc${i}`));
      await lock(join(dir, 'pith.yaml'), { cacheDir });
      await build(join(dir, 'pith.yaml'), { cacheDir });
      writeFileSync(join(deploy, `svc${i}.compose.yaml`), `services:\n  svc${i}:\n    image: ${registry.host}/fleet/svc${i}:1 # deployed\n`);
    }
    const setupMs = performance.now() - setup;
    await buildFixtureArchive(server.root, securityFixSuites(), server.key);

    const start = performance.now();
    const results = await update([fleet], { cacheDir, only: 'security', push: [`${registry.host}/fleet/{name}:2`], rollout: [deploy], jobs: JOBS });
    const ms = performance.now() - start;
    const updated = results.filter((r) => r.updated).length;
    const rolled = results.reduce((n, r) => n + (r.rollout?.edits.length ?? 0), 0);
    const pulled = results.reduce((n, r) => n + (r.pullBytes ?? 0), 0);
    console.log(`bench:update — ${SPECS} specs (set-up: lock + build each, ${(setupMs / 1000).toFixed(1)} s), ${JOBS} at a time`);
    console.log(`  published fix → ${updated} images re-locked, rebuilt, smoke-tested with runc, pushed; ${rolled} manifest references pinned`);
    console.log(`  ${(ms / 1000).toFixed(1)} s in all, ${(ms / SPECS).toFixed(0)} ms per image; a node pulls ${(pulled / SPECS).toFixed(0)} B per image`);
    console.log(`  goal < 60 s: ${ms < 60_000 ? 'met' : 'missed'} (ratio ${(ms / 60_000).toFixed(2)})`);
  } finally {
    await server.close();
    await registry.stop();
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
