// bench/resolve: load bookworm + bookworm-updates + bookworm-security main (the machine's apt sources) and resolve
// five package sets, cold and warm, beside apt-get -s for the same sets in the same run. Prints ratios (pith / apt).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAptSources } from 'pith';
import { deb822Sources, privateApt } from '../test/fixtures/apt.ts';

const SETS = ['python3', 'curl', 'perl', 'nodejs', 'openjdk-17-jre-headless'];
const WARM_RUNS = Number(process.env.BENCH_RUNS ?? 3);
const scratch = mkdtempSync(join(tmpdir(), 'pith-bench-'));

function timed(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ ms: number; stdout: string }> {
  return new Promise((ok, fail) => {
    const start = performance.now();
    const child = spawn(cmd, args, { env: env ?? process.env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.on('close', (code) => (code === 0 ? ok({ ms: performance.now() - start, stdout }) : fail(new Error(`${cmd} ${args.join(' ')} exited ${code}`))));
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const apt = await privateApt(join(scratch, 'apt'), deb822Sources(loadAptSources()));
async function aptInstall(): Promise<number> {
  let total = 0;
  for (const set of SETS) total += (await timed('apt-get', ['-s', '-q', 'install', ...set.split(' ')], apt.env)).ms;
  return total;
}
const pith = (cache: string, mode: 'online' | 'offline') =>
  timed(process.execPath, ['--import', 'tsx', new URL('./resolve-run.ts', import.meta.url).pathname, cache, mode, ...SETS]);

try {
  // Cold: empty caches, everything downloaded and verified.
  const aptUpdate = await timed('apt-get', ['-q', 'update'], apt.env);
  const aptColdResolve = await aptInstall(); // the first run also builds apt's binary cache
  const pithCache = join(scratch, 'pith-cache');
  const pithCold = await pith(pithCache, 'online');
  // Warm: caches filled. apt reads its pkgcache.bin; pith re-verifies InRelease online, or reads only its cache offline.
  const aptWarm: number[] = [];
  const pithWarm: number[] = [];
  const pithOffline: number[] = [];
  let inProcess = JSON.parse(pithCold.stdout);
  for (let i = 0; i < WARM_RUNS; i++) {
    aptWarm.push(await aptInstall());
    pithWarm.push((await pith(pithCache, 'online')).ms);
    const off = await pith(pithCache, 'offline');
    pithOffline.push(off.ms);
    inProcess = JSON.parse(off.stdout);
  }
  // One process per set, as a user runs them: `pith resolve --offline SET` beside `apt-get -s install SET`.
  const bin = new URL('../bin/pith.js', import.meta.url).pathname;
  const perSet: Array<[string, number, number]> = [];
  const repeat = async (f: () => Promise<{ ms: number }>) => {
    const xs: number[] = [];
    for (let i = 0; i < WARM_RUNS; i++) xs.push((await f()).ms);
    return median(xs);
  };
  for (const set of SETS) {
    const pkgs = set.split(' ');
    const p = await repeat(() => timed(process.execPath, [bin, 'resolve', '--offline', '--json', '--arch', 'amd64', '--cache', pithCache, ...pkgs]));
    const a = await repeat(() => timed('apt-get', ['-s', '-q', 'install', ...pkgs], apt.env));
    perSet.push([set, p, a]);
  }
  const aptCold = aptUpdate.ms + aptColdResolve;
  const rows = [
    ['cold (download + verify + resolve 5 sets)', pithCold.ms, aptCold],
    ['warm, online (pith re-verifies InRelease)', median(pithWarm), median(aptWarm)],
    ['warm, offline', median(pithOffline), median(aptWarm)],
  ] as const;
  console.log(`sets: ${SETS.join(', ')}; indexes: ${inProcess.packages} amd64+all packages; warm runs: ${WARM_RUNS} (median)`);
  console.log(`pith in-process (offline warm): load ${inProcess.loadMs.toFixed(0)} ms, resolve 5 sets ${inProcess.resolveMs.toFixed(0)} ms (sizes ${inProcess.counts.join(', ')})`);
  console.log('case'.padEnd(46) + 'pith ms'.padStart(10) + 'apt ms'.padStart(10) + 'pith/apt'.padStart(10));
  for (const [name, p, a] of rows) console.log(name.padEnd(46) + p.toFixed(0).padStart(10) + a.toFixed(0).padStart(10) + (p / a).toFixed(2).padStart(10));
  console.log('\none process per set, warm (pith resolve --offline vs apt-get -s install):');
  for (const [set, p, a] of perSet) console.log(`  ${set}`.padEnd(46) + p.toFixed(0).padStart(10) + a.toFixed(0).padStart(10) + (p / a).toFixed(2).padStart(10));
  console.log(`(apt cold = apt-get update ${aptUpdate.ms.toFixed(0)} ms + first resolves ${aptColdResolve.toFixed(0)} ms; apt warm = 5 × apt-get -s install)`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
