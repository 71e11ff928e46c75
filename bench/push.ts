// bench/push: issue 4, section 4. `pith push` vs `skopeo copy` of the same image (≥ 100 MB of layers, read from one
// OCI layout) to the same local docker-registry, in the same run:
//  - cold: an empty registry (a fresh one, fresh storage, for each run of each tool);
//  - warm: the same push again into the registry that now holds everything;
//  - pull: the other direction, `pith pull REF --output oci:DIR` vs `skopeo copy docker://REF oci:DIR`, each into a
//    new directory, from a registry holding the image.
// Each is run RUNS times (default 3), rotating the order; the median is reported, with the ratios pith/skopeo.
// pith is timed two ways: the CLI end to end as a user runs it (process start included, which under tsx is most of a
// warm push), and the library call in this process (`readImage` + `pushImage`: the protocol work alone); pith's own
// start-up (`pith --version`) is shown beside them. pith's --json says how many blob bytes each push sent (goal for
// warm: 0); goal for time (reported, not asserted): ≤ 1.0× skopeo cold. The CLI is the bundle in dist/ when it is
// fresh (`npm run build` makes it), else the sources through tsx; the report says which ran.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImage, copyImage, pushImage, readImage, writeImage } from 'pith';
import { codeFingerprint } from '../src/cache/source-digest.ts';
import { Registry } from '../test/fixtures/registry.ts';

for (const [cmd, pkg] of [['skopeo', 'skopeo'], ['docker-registry', 'docker-registry']]) {
  if (spawnSync(cmd, ['--version'], { stdio: 'ignore' }).error) {
    console.error(`bench:push needs ${cmd} (the Debian package ${pkg}): apt-get install -y --no-install-recommends ${pkg}`);
    process.exit(1);
  }
}

const RUNS = Number(process.env.RUNS ?? 3);
/** Layer sizes in MB: several layers, as real images have, so parallel uploads matter; random, so gzip keeps them. */
const LAYERS_MB = [40, 30, 20, 10, 4, 1];
/** The launcher timed as "pith CLI"; PITH_BIN may name another (a bundled build, say). */
const bin = process.env.PITH_BIN ?? new URL('../bin/pith.js', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'pith-bench-push-'));

function run(cmd: string, args: string[]): Promise<{ ms: number; stdout: string }> {
  return new Promise((ok, fail) => {
    const start = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? ok({ ms: performance.now() - start, stdout }) : fail(new Error(`${cmd} ${args.join(' ')} exited ${code}\n${stderr}`))));
  });
}

interface Result {
  ms: number;
  /** Blob bytes sent, as pith reports them (skopeo does not say). */
  sent?: number;
}

async function pith(source: string, host: string, repo: string): Promise<Result> {
  const r = await run(process.execPath, [bin, 'push', '--json', source, `${host}/${repo}:1`]);
  return { ms: r.ms, sent: (JSON.parse(r.stdout) as { bytesSent: number }).bytesSent };
}

async function library(source: string, host: string, repo: string): Promise<Result> {
  const start = performance.now();
  const summary = await pushImage(`${host}/${repo}:1`, await readImage(source), {});
  return { ms: performance.now() - start, sent: summary.bytesSent };
}

async function skopeo(source: string, host: string, repo: string): Promise<Result> {
  return { ms: (await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', source, `docker://${host}/${repo}:1`])).ms };
}

/** Pulls, each into a new layout directory `out`. */
const pulls = {
  cli: async (ref: string, out: string): Promise<Result> => ({ ms: (await run(process.execPath, [bin, 'pull', ref, '--output', `oci:${out}`])).ms }),
  library: async (ref: string, out: string): Promise<Result> => {
    const start = performance.now();
    await copyImage(`docker://${ref}`, `oci:${out}`);
    return { ms: performance.now() - start };
  },
  skopeo: async (ref: string, out: string): Promise<Result> => ({ ms: (await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${out}`])).ms }),
} as const;

/** Which pith the CLI runs: bin/pith.js uses dist/ only while it was made from these very sources. */
function launcherKind(): string {
  const root = fileURLToPath(new URL('..', import.meta.url));
  try {
    const { fingerprint } = JSON.parse(readFileSync(join(root, 'dist', 'bundle.json'), 'utf8')) as { fingerprint: string };
    if (fingerprint === codeFingerprint(root)) return 'the bundle in dist/';
    return 'the sources through tsx (dist/ is stale: npm run build)';
  } catch {
    return 'the sources through tsx (no dist/: npm run build)';
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const ratio = (a: number, b: number) => (a / b).toFixed(3);
const row = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(32) : c.padStart(14))).join(' ');

async function main(): Promise<void> {
  const layers = LAYERS_MB.map((mb, i) => ({
    entries: [{ type: 'file' as const, path: `/data/layer-${i}.bin`, mode: 0o644, uid: 0, gid: 0, mtime: 0, content: randomBytes(mb << 20) }],
  }));
  const image = await buildImage({ layers, config: { architecture: 'amd64', os: 'linux' }, sourceDateEpoch: 1_700_000_000 });
  const total = image.layers.reduce((n, l) => n + l.size, 0) + image.configBytes.byteLength;
  const layout = join(scratch, 'layout');
  await writeImage(`oci:${layout}:bench`, image);
  const source = `oci:${layout}:bench`;
  console.log(`pith bench:push — ${image.layers.length} layers, ${(total / 1e6).toFixed(1)} MB of blobs, from ${source}; docker-registry on 127.0.0.1, filesystem storage; ${RUNS} runs each, medians`);
  console.log(`pith CLI: ${bin === process.env.PITH_BIN ? bin : `bin/pith.js, running ${launcherKind()}`}`);

  const tools = { cli: pith, library, skopeo } as const;
  type Tool = keyof typeof tools;
  const order = Object.keys(tools) as Tool[];
  const cold: Record<Tool, Result[]> = { cli: [], library: [], skopeo: [] };
  const warm: Record<Tool, Result[]> = { cli: [], library: [], skopeo: [] };
  const pulled: Record<Tool, Result[]> = { cli: [], library: [], skopeo: [] };
  const startup: number[] = [];
  const origin = await Registry.start(join(scratch, 'registry-origin'));
  try {
    await pushImage(`${origin.host}/bench/origin:1`, image);
    for (let i = 0; i < RUNS; i++) {
      for (const tool of [...order.slice(i % order.length), ...order.slice(0, i % order.length)]) {
        const out = join(scratch, `pulled-${tool}-${i}`);
        pulled[tool].push(await pulls[tool](`${origin.host}/bench/origin:1`, out));
        rmSync(out, { recursive: true, force: true });
      }
    }
  } finally {
    await origin.stop();
  }
  for (let i = 0; i < RUNS; i++) {
    startup.push((await run(process.execPath, [bin, '--version'])).ms);
    // Rotate which tool goes first, so none always meets the caches in the same state.
    for (const tool of [...order.slice(i % order.length), ...order.slice(0, i % order.length)]) {
      const dir = join(scratch, `registry-${tool}-${i}`);
      const registry = await Registry.start(dir);
      try {
        cold[tool].push(await tools[tool](source, registry.host, `bench/${tool}`));
        warm[tool].push(await tools[tool](source, registry.host, `bench/${tool}`));
      } finally {
        await registry.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const m = (rs: Result[]) => median(rs.map((r) => r.ms));
  const runs = (rs: Result[]) => rs.map((r) => (r.ms / 1000).toFixed(2)).join(' ');
  console.log(row(['', 'pith CLI', 'pith library', 'skopeo', 'CLI/skopeo', 'library/skopeo']));
  for (const [name, r] of [['cold push (empty registry)', cold], ['warm push (registry has all)', warm], ['pull to oci: (new directory)', pulled]] as const) {
    console.log(row([name, s(m(r.cli)), s(m(r.library)), s(m(r.skopeo)), ratio(m(r.cli), m(r.skopeo)), ratio(m(r.library), m(r.skopeo))]));
  }
  console.log(`pith CLI start-up (pith --version): ${s(median(startup))}`);
  console.log(`pith blob bytes sent: cold ${cold.cli.map((r) => r.sent).join(', ')}; warm ${warm.cli.map((r) => r.sent).join(', ')} (CLI), ${warm.library.map((r) => r.sent).join(', ')} (library)`);
  console.log(`all runs (s): cold CLI ${runs(cold.cli)} | library ${runs(cold.library)} | skopeo ${runs(cold.skopeo)}; warm CLI ${runs(warm.cli)} | library ${runs(warm.library)} | skopeo ${runs(warm.skopeo)}; pull CLI ${runs(pulled.cli)} | library ${runs(pulled.library)} | skopeo ${runs(pulled.skopeo)}`);
  console.log('goals (issue 4): cold push ≤ 1.0× skopeo; a warm re-push sends no blob data.');
}

try {
  await main();
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
