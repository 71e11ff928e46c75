// bench/startup: issue 14, section 3 — how fast the CLI starts, each pith command against its peer in the same run:
//  - `pith --version` vs `node -e 0` (Node's own start-up is the floor; goal ≤ 1.3×) and vs `skopeo --version`;
//  - a warm `pith push` of an unchanged image vs `skopeo copy` of the same into a registry that holds it (goal ≤ 1.0×);
//  - `pith pull` vs `skopeo copy docker://… oci:…`, each into a new directory (goal ≤ 1.0×);
//  - one `pith resolve --offline` process vs `apt-get -s install` with a private APT_CONFIG and an empty status, both
//    warm (goal ≤ 1.0×).
// Runs are interleaved A/B (the order rotates each round), so a burst of load from other work on the machine hits both
// sides alike; each figure is the median with min–max over RUNS rounds (default 7). Nothing here is asserted.
// Then WHERE THE TIME GOES: each pith command once more under `--cpu-prof`, its samples split into module loading,
// index loading (parsing the cached Packages rows), resolving, other work, and idle (waiting on network or disk),
// beside Node's own start-up (`node -e 0`). The CLI is run as `node bin/pith.js`, whatever launcher that is.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, loadAptSources, pushImage, writeImage } from 'pith';
import { deb822Sources, privateApt } from '../test/fixtures/apt.ts';
import { Registry } from '../test/fixtures/registry.ts';

for (const [cmd, pkg] of [['skopeo', 'skopeo'], ['docker-registry', 'docker-registry'], ['apt-get', 'apt']]) {
  if (spawnSync(cmd, ['--version'], { stdio: 'ignore' }).error) {
    console.error(`bench:startup needs ${cmd} (the Debian package ${pkg}): apt-get install -y --no-install-recommends ${pkg}`);
    process.exit(1);
  }
}

const RUNS = Number(process.env.RUNS ?? 7);
/** Package sets for the resolve case, one process each. */
const SETS = (process.env.SETS ?? 'curl python3').split(',');
const bin = new URL('../bin/pith.js', import.meta.url).pathname;
/** pith's warm cache (the resolve case reads its indexes offline); fill it once with `pith resolve curl`. */
const cacheDir = process.env.PITH_CACHE;
const scratch = mkdtempSync(join(tmpdir(), 'pith-bench-startup-'));

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((ok, fail) => {
    const start = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: env ?? process.env });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? ok(performance.now() - start) : fail(new Error(`${cmd} ${args.join(' ')} exited ${code}\n${stderr}`))));
  });
}

interface Case {
  name: string;
  goal?: number;
  /** Each side once; `round` lets a side use a fresh output directory. */
  pith: (round: number) => Promise<number>;
  peer: (round: number) => Promise<number>;
  peerName: string;
  /** The pith command line profiled for the breakdown. */
  argv?: string[];
}

interface Stats { median: number; min: number; max: number }
const stats = (xs: number[]): Stats => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]! };
};
const ms = (x: number) => x.toFixed(0);

/** Rounds of A and B, alternating which goes first, so neither always meets the machine in the same state. */
async function interleaved(c: Case): Promise<{ pith: number[]; peer: number[]; ratios: number[] }> {
  const pith: number[] = [];
  const peer: number[] = [];
  await c.pith(-1); // one untimed warm-up each: page cache, registry connections, apt's pkgcache.bin
  await c.peer(-1);
  for (let i = 0; i < RUNS; i++) {
    if (i % 2 === 0) {
      pith.push(await c.pith(i));
      peer.push(await c.peer(i));
    } else {
      peer.push(await c.peer(i));
      pith.push(await c.pith(i));
    }
  }
  return { pith, peer, ratios: pith.map((p, i) => p / peer[i]!) };
}

/** CPU-profile categories, by the frames on a sample's stack (innermost decides within pith's own code). */
type Part = 'module loading' | 'index loading' | 'resolving' | 'other work' | 'idle (network, disk)' | 'GC';
interface ProfileNode { id: number; callFrame: { functionName: string; url: string }; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

const INDEX_FUNCTIONS = /^(loadIndex|decodeIndex|packagesFromRows|parsePackagesIndex|parseDeb822)$/;
const RESOLVE_FUNCTIONS = /^(PackageUniverse|resolve|Resolver)/;

function breakdown(profile: Profile): { parts: Map<Part, number>; total: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const classify = (id: number): Part => {
    const leaf = byId.get(id)!.callFrame.functionName;
    if (leaf === '(idle)') return 'idle (network, disk)';
    if (leaf === '(garbage collector)') return 'GC';
    let loader = false;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const { functionName, url } = byId.get(at)!.callFrame;
      if (INDEX_FUNCTIONS.test(functionName)) return 'index loading';
      if (RESOLVE_FUNCTIONS.test(functionName) && /debian|chunks|dist/.test(url)) return 'resolving';
      if (url.startsWith('node:internal/modules/') || /tsx|esbuild/.test(url) || functionName === 'compileSourceTextModule') loader = true;
    }
    return loader ? 'module loading' : 'other work';
  };
  const parts = new Map<Part, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    const part = classify(id);
    parts.set(part, (parts.get(part) ?? 0) + dt);
    total += dt;
  });
  return { parts, total };
}

async function profiled(argv: string[]): Promise<{ wall: number; parts: Map<Part, number>; total: number }> {
  const dir = join(scratch, `prof-${randomBytes(4).toString('hex')}`);
  const wall = await run(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, bin, ...argv]);
  // A launcher may start one process; the CLI's own profile is the largest.
  const files = readdirSync(dir).map((f) => join(dir, f));
  const profiles = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as Profile).sort((a, b) => b.samples.length - a.samples.length);
  return { wall, ...breakdown(profiles[0]!) };
}

async function main(): Promise<void> {
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`pith bench:startup — ${new Date().toISOString()}, load average ${load}, ${RUNS} interleaved rounds per case`);
  console.log(`pith CLI: node bin/pith.js (${existsBundle() ? 'dist/ present: the launcher uses it while it matches the sources' : 'no dist/: the sources through tsx'})`);

  // A small image (six layers, 6 MB): what a warm push costs is the round trips and start-up, not the bytes.
  const layers = [3, 1, 1, 0.5, 0.25, 0.25].map((mb, i) => ({
    entries: [{ type: 'file' as const, path: `/data/layer-${i}.bin`, mode: 0o644, uid: 0, gid: 0, mtime: 0, content: randomBytes(Math.round(mb * (1 << 20))) }],
  }));
  const image = await buildImage({ layers, config: { architecture: 'amd64', os: 'linux' }, sourceDateEpoch: 1_700_000_000 });
  const layout = join(scratch, 'layout');
  const source = `oci:${layout}:bench`;
  await writeImage(source, image);

  const registry = await Registry.start(join(scratch, 'registry'));
  // Private apt, fed the machine's own downloaded lists so nothing is fetched: the same indexes pith has cached.
    const apt = await privateApt(join(scratch, 'apt'), deb822Sources(loadAptSources()));
  for (const f of readdirSync('/var/lib/apt/lists')) {
    if (/_(InRelease|Packages(\.\w+)?)$/.test(f)) copyFileSync(join('/var/lib/apt/lists', f), join(scratch, 'apt/var/lib/apt/lists', f));
  }
  const cacheArgs = cacheDir ? ['--cache', cacheDir] : [];
  try {
    await pushImage(`${registry.host}/bench/pith:1`, image);
    await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', source, `docker://${registry.host}/bench/skopeo:1`]);
    const ref = `${registry.host}/bench/pith:1`;
    const cases: Case[] = [
      { name: 'pith --version', peerName: 'node -e 0', goal: 1.3, pith: () => run(process.execPath, [bin, '--version']), peer: () => run(process.execPath, ['-e', '0']), argv: ['--version'] },
      { name: 'pith --version', peerName: 'skopeo --version', pith: () => run(process.execPath, [bin, '--version']), peer: () => run('skopeo', ['--version']) },
      {
        name: 'warm push (unchanged image)', peerName: 'skopeo copy', goal: 1.0,
        pith: () => run(process.execPath, [bin, 'push', source, `${registry.host}/bench/pith:1`]),
        peer: () => run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', source, `docker://${registry.host}/bench/skopeo:1`]),
        argv: ['push', source, `${registry.host}/bench/pith:1`],
      },
      {
        name: 'pull to a new oci: directory', peerName: 'skopeo copy', goal: 1.0,
        pith: (i) => pullInto(() => run(process.execPath, [bin, 'pull', ref, '--output', `oci:${join(scratch, `pull-pith-${i}`)}`]), `pull-pith-${i}`),
        peer: (i) => pullInto(() => run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${join(scratch, `pull-skopeo-${i}`)}`]), `pull-skopeo-${i}`),
        argv: ['pull', ref, '--output', `oci:${join(scratch, 'pull-prof')}`],
      },
      ...SETS.map((set): Case => ({
        name: `resolve ${set} (warm, offline)`, peerName: 'apt-get -s install', goal: 1.0,
        pith: () => run(process.execPath, [bin, 'resolve', '--offline', '--json', '--arch', 'amd64', ...cacheArgs, ...set.split(' ')]),
        peer: () => run('apt-get', ['-s', '-q', 'install', ...set.split(' ')], apt.env),
        argv: ['resolve', '--offline', '--json', '--arch', 'amd64', ...cacheArgs, ...set.split(' ')],
      })),
    ];

    const rows: string[] = [];
    const head = 'case'.padEnd(34) + 'peer'.padEnd(20) + 'pith ms'.padStart(9) + 'peer ms'.padStart(9) + '  ratio (min–max)'.padEnd(22) + 'goal';
    for (const c of cases) {
      const r = await interleaved(c);
      const [p, q, x] = [stats(r.pith), stats(r.peer), stats(r.ratios)];
      const goal = c.goal === undefined ? '(reference)' : `≤ ${c.goal.toFixed(1)}× ${x.median <= c.goal ? 'met' : 'not met'}`;
      rows.push(c.name.padEnd(34) + c.peerName.padEnd(20) + ms(p.median).padStart(9) + ms(q.median).padStart(9) +
        `  ${x.median.toFixed(2)}× (${x.min.toFixed(2)}–${x.max.toFixed(2)})`.padEnd(22) + goal);
      console.log(rows.length === 1 ? `${head}\n${rows[0]}` : rows[rows.length - 1]);
    }
    console.log('(pith and peer ms: medians; the ratio is the median of per-round ratios, with their min–max)');

    console.log('\nwhere the time goes (one --cpu-prof run each; ms of the profile, which starts after Node bootstraps):');
    const floor: number[] = [];
    for (let i = 0; i < 5; i++) floor.push(await run(process.execPath, ['-e', '0']));
    const node = stats(floor);
    const parts: Part[] = ['module loading', 'index loading', 'resolving', 'other work', 'GC', 'idle (network, disk)'];
    console.log('command'.padEnd(34) + 'wall'.padStart(7) + 'node -e 0'.padStart(11) + 'profiled'.padStart(10) + parts.map((p) => p.padStart(p.length + 2)).join(''));
    const seen = new Set<string>();
    for (const c of cases) {
      if (!c.argv || seen.has(c.name)) continue;
      seen.add(c.name);
      const b = await profiled(c.argv);
      console.log(c.name.padEnd(34) + ms(b.wall).padStart(7) + ms(node.median).padStart(11) + ms(b.total).padStart(10) + parts.map((p) => ms(b.parts.get(p) ?? 0).padStart(p.length + 2)).join(''));
    }
    console.log('(wall minus profiled is Node\'s bootstrap and exit, which "node -e 0" shows alone; profiling adds overhead of its own)');
  } finally {
    await registry.stop();
  }
}

function pullInto(f: () => Promise<number>, dir: string): Promise<number> {
  return f().finally(() => rmSync(join(scratch, dir), { recursive: true, force: true }));
}

function existsBundle(): boolean {
  try {
    readFileSync(new URL('../dist/bundle.json', import.meta.url));
    return true;
  } catch {
    return false;
  }
}

try {
  await main();
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
