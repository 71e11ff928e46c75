// bench/build: issue 3, section 6. The same package set built by pith and by `mmdebstrap --mode=chrootless
// --variant=custom` in the same run, from the machine's apt sources: cold (empty cache, no lock), warm (cache and
// lock), one package changed (the lock moved to another version of one package, as a security update does), then a
// Python image both ways. pith runs as users run it (the CLI, a process per build) and, separately, in-process (the
// library's build() in this process, with its own cache) to show the build's own time apart from process start-up.
// Prints time ratios, byte ratios (uncompressed and compressed), and the compressed size of examples/static.
// Goals (reported, not asserted): warm ≤ 0.05× mmdebstrap's time, cold ≤ 0.5×, image bytes ≤ 0.6×.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGunzip, createGzip } from 'node:zlib';
import { build, compareVersions, loadAptSources, lockedPackage, openArchive, readLock, writeLock, type LockedPackage } from 'pith';
import { ensureBundle } from '../scripts/bundle.ts';

interface Image {
  name: string;
  packages: string[];
}
const IMAGES: Image[] = [
  { name: 'base', packages: ['libc6', 'ca-certificates', 'tzdata'] },
  { name: 'python', packages: ['python3-minimal'] },
];
const MMDEBSTRAP_MODE = process.env.MMDEBSTRAP_MODE ?? 'chrootless';

if (spawnSync('mmdebstrap', ['--version'], { stdio: 'ignore' }).error) {
  console.error('bench:build needs mmdebstrap (the Debian package): apt-get install -y --no-install-recommends mmdebstrap');
  process.exit(1);
}

const root = fileURLToPath(new URL('..', import.meta.url));
// Run as an installed `pith` is (its #! line, and the Node flag it sets), not as `node bin/pith.js`.
const bin = join(root, 'bin', 'pith.js');
const scratch = mkdtempSync(join(tmpdir(), 'pith-bench-build-'));
const sources = loadAptSources();
const arch = spawnSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).stdout.trim() || 'amd64';

function run(cmd: string, args: string[], options: { quiet?: boolean } = {}): Promise<{ ms: number; stdout: string }> {
  return new Promise((ok, fail) => {
    const start = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', options.quiet ? 'pipe' : 'inherit'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    child.on('error', fail);
    child.on('close', (code) =>
      code === 0 ? ok({ ms: performance.now() - start, stdout }) : fail(new Error(`${cmd} ${args.join(' ')} exited ${code}\n${stdout.slice(-20000)}\n${stderr.slice(-20000)}`)),
    );
  });
}

const du = async (dir: string) => Number((await run('du', ['-sb', dir])).stdout.split('\t')[0]);

/** Bytes that flow through a stream chain: the uncompressed size of a gzip blob, or the gzip size of a file. */
async function countBytes(file: string, transform: NodeJS.ReadWriteStream): Promise<number> {
  let n = 0;
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => ((n += chunk.length), done()) });
  await pipeline(createReadStream(file), transform, sink);
  return n;
}


/** Fastest of several `pith --version`: node's own start, loading pith, parsing arguments (the least disturbed run). */
async function startUp(): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 7; i++) times.push((await run(bin, ['--version'])).ms);
  return Math.min(...times);
}

/** The same build through the library in this process: no process start-up, modules loaded and compiled. */
async function libraryBuild(specDir: string, cache: string): Promise<number> {
  const start = performance.now();
  await build(join(specDir, 'pith.yaml'), { cacheDir: cache, outputs: [`oci:${join(specDir, 'out')}:bench`] });
  return performance.now() - start;
}

interface PithBuild {
  ms: number;
  digest: string;
  compressed: number;
  layers: Array<{ digest: string; size: number; cached: boolean; comment: string }>;
  out: string;
}
async function pithBuild(specDir: string, cache: string, outName: string): Promise<PithBuild> {
  const out = join(specDir, outName);
  const r = await run(bin, ['build', join(specDir, 'pith.yaml'), '--output', `oci:${out}:bench`, '--cache', cache, '--json']);
  const result = JSON.parse(r.stdout) as { digest: string; architectures: Array<{ layers: PithBuild['layers'] }> };
  const layers = result.architectures[0]!.layers;
  return { ms: r.ms, digest: result.digest, compressed: layers.reduce((n, l) => n + l.size, 0), layers, out };
}

/** Unpacked bytes of a pith image: the layers' tar sizes, and `du -sb` of the rootfs `umoci unpack` makes. */
async function pithUncompressed(b: PithBuild): Promise<{ tar: number; du: number }> {
  let tar = 0;
  for (const l of b.layers) tar += await countBytes(join(b.out, 'blobs', ...l.digest.split(':')), createGunzip());
  const bundleDir = `${b.out}-bundle`;
  await run('umoci', ['unpack', '--image', `${b.out}:bench`, bundleDir], { quiet: true });
  return { tar, du: await du(join(bundleDir, 'rootfs')) };
}

/**
 * "One package changed": the lock moves one locked package to another version the archive serves (the largest such
 * package, so the most bytes to recompress), the way a security update changes a lock. Nothing is re-resolved: the
 * lock is what a build takes, and the rest of it is unchanged.
 */
async function changeOnePackage(lockPaths: string[], cache: string): Promise<{ from: LockedPackage; to: LockedPackage } | null> {
  const lockPath = lockPaths[0]!;
  const lockFile = readLock(lockPath);
  const archive = await openArchive({ sources, architectures: [arch], cacheDir: cache });
  const locked = lockFile.architectures[arch]!.packages;
  const candidates = locked
    .map((from) => {
      const others = archive.packages(arch).filter((p) => p.name === from.name && p.architecture === from.architecture && p.version !== from.version);
      const to = others.sort((a, b) => compareVersions(b.version, a.version))[0];
      return to && lockFile.sources.some((s) => s.suite === to.origin.suite) ? { from, to } : undefined;
    })
    .filter((c) => c !== undefined)
    .sort((a, b) => b.from.size - a.from.size);
  const pick = candidates[0];
  if (!pick) return null;
  const { to } = pick;
  const next = lockedPackage(to);
  lockFile.architectures[arch]!.packages = locked.map((p) => (p === pick.from ? next : p));
  for (const path of lockPaths) await writeLock(path, lockFile);
  return { from: pick.from, to: next };
}

/** One `deb [opts] URI SUITE COMPONENTS` line per machine source, as mmdebstrap takes MIRROR arguments. */
function mirrorLines(): string[] {
  return sources.flatMap((s) =>
    s.suites.map((suite) => {
      const opts = [s.signedBy && !s.signedBy.includes('\n') ? `signed-by=${s.signedBy}` : '', s.architectures ? `arch=${s.architectures.join(',')}` : ''].filter(Boolean);
      return `deb ${opts.length ? `[${opts.join(' ')}] ` : ''}${s.uri} ${suite} ${s.components.join(' ')}`;
    }),
  );
}

/**
 * mmdebstrap to a tar (the directory size is `du -sb` of that tar unpacked), --mode=chrootless as the issue asks.
 * Deviation, only when the plain run fails: with python3-minimal (which pulls in dpkg), libc6's preinst runs the
 * host's debconf against the target and fails ("No config file found at /usr/share/perl5/Debconf/Config.pm"), because
 * nothing in the set ships /etc/debconf.conf (with {libc6, ca-certificates, tzdata}, debconf comes in as a dependency).
 * --mode=root is no way out: --variant=custom has no /bin/sh in the chroot for the scripts. So the run is repeated,
 * still chrootless and with the same package set, with a setup hook that copies the host's /etc/debconf.conf and
 * makes /var/cache/debconf in the target, and a customize hook that removes both again. The deviation is printed.
 */
const DEBCONF_HOOKS = [
  `--setup-hook=mkdir -p "$1/etc" "$1/var/cache/debconf" && cp /etc/debconf.conf "$1/etc/"`,
  `--customize-hook=rm -rf "$1/etc/debconf.conf" "$1/var/cache/debconf"`,
];
async function mmdebstrap(include: string[], dir: string, measureBytes: boolean) {
  const tar = join(dir, 'mm.tar');
  const suite = sources[0]!.suites[0]!;
  const attempt = (extra: string[]) =>
    run(
      'mmdebstrap',
      [`--mode=${MMDEBSTRAP_MODE}`, '--variant=custom', `--architectures=${arch}`, `--include=${include.join(',')}`, '--quiet', ...extra, suite, tar, ...mirrorLines()],
      { quiet: true },
    );
  const notes: string[] = [];
  let r: { ms: number };
  rmSync(tar, { force: true });
  try {
    r = await attempt([]);
  } catch (e) {
    const why = (e as Error).message.match(/^.*(No config file found|script subprocess returned error).*$/m)?.[0]?.trim() ?? 'its dpkg --install step failed';
    notes.push(`plain --mode=${MMDEBSTRAP_MODE} failed (${why.slice(0, 100)}); retried with hooks that give the target the host's /etc/debconf.conf (removed afterwards); the time is the retry's`);
    rmSync(tar, { force: true });
    r = await attempt(DEBCONF_HOOKS);
  }
  if (!measureBytes) return { ms: r.ms, notes, du: 0, tar: 0, gz: 0 };
  const rootDir = join(dir, 'mm-root');
  rmSync(rootDir, { recursive: true, force: true });
  mkdirSync(rootDir);
  await run('tar', ['-xf', tar, '-C', rootDir, '--numeric-owner']);
  return { ms: r.ms, notes, du: await du(rootDir), tar: await du(tar), gz: await countBytes(tar, createGzip({ level: 6 })) };
}

function writeSpec(image: Image, variant: string): string {
  const dir = join(scratch, image.name, variant);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'pith.yaml'), `name: ${image.name}\npackages:\n${image.packages.map((p) => `  - ${p}\n`).join('')}`);
  return dir;
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mb = (n: number) => `${(n / 1e6).toFixed(2)} MB`;
const ratio = (a: number, b: number) => (a / b).toFixed(3);
const row = (cells: string[], widths: number[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('');
const recompressed = (b: PithBuild) => `${b.layers.filter((l) => !l.cached).length}/${b.layers.length} layers compressed`;

try {
  const cli = await ensureBundle(root);
  console.log(`pith bench:build — ${arch}, ${sources.length} apt source entries from this machine; mmdebstrap --mode=${MMDEBSTRAP_MODE} --variant=custom`);
  if (MMDEBSTRAP_MODE !== 'chrootless') console.log(`NOTE: mmdebstrap mode deviates from the issue's chrootless (MMDEBSTRAP_MODE=${MMDEBSTRAP_MODE})`);
  const boot = await startUp();
  console.log(`pith CLI runs from ${cli}; its process start-up (fastest \`pith --version\` of 7): ${s(boot)}`);

  for (const image of IMAGES) {
    // The CLI and the library each build from their own spec directory (so each locks for itself) and cache.
    const dir = writeSpec(image, 'cli');
    const cache = join(scratch, image.name, 'cache-cli');
    const libDir = writeSpec(image, 'library');
    const libCache = join(scratch, image.name, 'cache-library');
    // Cold: empty cache, no lock — indexes fetched and verified, resolved, locked, every .deb downloaded.
    const cold = await pithBuild(dir, cache, 'out-cold');
    const libCold = await libraryBuild(libDir, libCache);
    // Warm: the same cache and the lock the cold build wrote (a rebuild from the lock).
    const warm = await pithBuild(dir, cache, 'out-warm');
    const libWarm = await libraryBuild(libDir, libCache);
    // Warm, relock: the same cache without the lock, so pith resolves again as mmdebstrap does each run.
    const lockPath = join(dir, 'pith.lock');
    const lockText = readFileSync(lockPath);
    rmSync(lockPath);
    const relock = await pithBuild(dir, cache, 'out-relock');
    writeFileSync(lockPath, lockText);
    const sizes = await pithUncompressed(warm);
    const mm = await mmdebstrap(image.packages, dir, true);
    // One package changed: the locks move one package; pith rebuilds from its warm cache, mmdebstrap from scratch.
    const change = await changeOnePackage([lockPath, join(libDir, 'pith.lock')], cache);
    const changed = change ? await pithBuild(dir, cache, 'out-changed') : undefined;
    const libChanged = change ? await libraryBuild(libDir, libCache) : undefined;
    const mmChanged = change ? await mmdebstrap([...image.packages, `${change.to.name}=${change.to.version}`], dir, false) : undefined;

    const w = [40, 11, 12, 13, 10, 15];
    console.log(`\n== ${image.name}: {${image.packages.join(', ')}} — pith ${warm.layers.length} layers, digest ${warm.digest}${cold.digest === warm.digest && warm.digest === relock.digest ? ' (cold = warm = relock)' : ' (DIGESTS DIFFER)'}`);
    for (const note of mm.notes) console.log(`NOTE: mmdebstrap ${note}`);
    console.log(row(['time', 'pith CLI', 'in-process', 'mmdebstrap', 'CLI/mm', 'in-process/mm'], w));
    const timeRow = (label: string, pith: number, inProcess: number | undefined, peer: number) =>
      console.log(row([label, s(pith), inProcess === undefined ? '-' : s(inProcess), s(peer), ratio(pith, peer), inProcess === undefined ? '-' : ratio(inProcess, peer)], w));
    timeRow('  cold (empty cache, no lock)', cold.ms, libCold, mm.ms);
    timeRow('  warm (cache + lock)', warm.ms, libWarm, mm.ms);
    if (change && changed && mmChanged) {
      timeRow('  one package changed (lock moved)', changed.ms, libChanged, mmChanged.ms);
      console.log(`      ${change.from.name} ${change.from.version} → ${change.to.version}: ${recompressed(changed)} (${changed.layers.filter((l) => !l.cached).map((l) => l.comment).join('; ')})`);
    } else {
      console.log('  one package changed: no locked package has another version in the archive; skipped');
    }
    timeRow('  warm, relock (cache, no lock)', relock.ms, undefined, mm.ms);
    const b = [40, 11, 12, 16];
    console.log(row(['bytes', 'pith', 'mmdebstrap', 'pith/mmdebstrap'], b));
    console.log(row(['  uncompressed (du -sb of the rootfs)', mb(sizes.du), mb(mm.du), ratio(sizes.du, mm.du)], b));
    console.log(row(['  uncompressed (tar: layers / mm.tar)', mb(sizes.tar), mb(mm.tar), ratio(sizes.tar, mm.tar)], b));
    console.log(row(['  compressed (gzip layers / tar.gz -6)', mb(warm.compressed), mb(mm.gz), ratio(warm.compressed, mm.gz)], b));
  }

  // examples/static as shipped, copied so its lock and output stay out of the repository.
  const staticDir = join(scratch, 'static');
  mkdirSync(staticDir);
  copyFileSync(join(root, 'examples', 'static', 'pith.yaml'), join(staticDir, 'pith.yaml'));
  const st = await pithBuild(staticDir, join(scratch, 'cache-static'), 'out');
  console.log(`\n== examples/static — ${st.layers.length} layers, ${st.compressed} bytes (${mb(st.compressed)}) compressed, digest ${st.digest}`);
  console.log('\ngoals (issue 3): warm ≤ 0.05× mmdebstrap time, cold ≤ 0.5×, image bytes ≤ 0.6×. mmdebstrap downloads its .debs on every run (no cache) and runs maintainer scripts; pith trims docs/man/locales by default.');
} finally {
  if (!process.env.BENCH_KEEP) rmSync(scratch, { recursive: true, force: true });
  else console.log(`kept ${scratch}`);
}
