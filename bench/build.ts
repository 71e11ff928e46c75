// bench/build: issue 3, section 6. The same package set built by pith (cold cache, warm cache) and by
// `mmdebstrap --mode=chrootless --variant=custom` in the same run, from the machine's apt sources; then a Python image
// both ways. Prints time ratios and byte ratios (uncompressed and compressed), and the static image's compressed size.
// Goals (reported, not asserted): warm ≤ 0.05× mmdebstrap's time, cold ≤ 0.5×, image bytes ≤ 0.6×.
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { loadAptSources } from 'pith';

interface Image {
  name: string;
  packages: string[];
}
const IMAGES: Image[] = [
  { name: 'base', packages: ['libc6', 'ca-certificates', 'tzdata'] },
  { name: 'python', packages: ['python3-minimal'] },
];
const STATIC: Image = { name: 'static', packages: ['ca-certificates', 'tzdata', 'netbase'] };
const MMDEBSTRAP_MODE = process.env.MMDEBSTRAP_MODE ?? 'chrootless';

if (spawnSync('mmdebstrap', ['--version'], { stdio: 'ignore' }).error) {
  console.error('bench:build needs mmdebstrap (the Debian package): apt-get install -y --no-install-recommends mmdebstrap');
  process.exit(1);
}

const bin = new URL('../bin/pith.js', import.meta.url).pathname;
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

interface PithBuild {
  ms: number;
  digest: string;
  compressed: number;
  layers: Array<{ digest: string; size: number }>;
  out: string;
}
async function pithBuild(specDir: string, cache: string, outName: string): Promise<PithBuild> {
  const out = join(specDir, outName);
  const r = await run(process.execPath, [bin, 'build', join(specDir, 'pith.yaml'), '--output', `oci:${out}:bench`, '--cache', cache, '--json']);
  const result = JSON.parse(r.stdout) as { digest: string; architectures: Array<{ layers: Array<{ digest: string; size: number }> }> };
  const layers = result.architectures[0]!.layers;
  return { ms: r.ms, digest: result.digest, compressed: layers.reduce((n, l) => n + l.size, 0), layers, out };
}

/** Unpacked bytes of a pith image: the layers' tar sizes, and `du -sb` of the rootfs `umoci unpack` makes. */
async function pithUncompressed(b: PithBuild): Promise<{ tar: number; du: number }> {
  let tar = 0;
  for (const l of b.layers) tar += await countBytes(join(b.out, 'blobs', ...l.digest.split(':')), createGunzip());
  const bundle = `${b.out}-bundle`;
  await run('umoci', ['unpack', '--image', `${b.out}:bench`, bundle], { quiet: true });
  return { tar, du: await du(join(bundle, 'rootfs')) };
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
async function mmdebstrap(image: Image, dir: string) {
  const tar = join(dir, 'mm.tar');
  const suite = sources[0]!.suites[0]!;
  const attempt = (extra: string[]) =>
    run(
      'mmdebstrap',
      [`--mode=${MMDEBSTRAP_MODE}`, '--variant=custom', `--architectures=${arch}`, `--include=${image.packages.join(',')}`, '--quiet', ...extra, suite, tar, ...mirrorLines()],
      { quiet: true },
    );
  const notes: string[] = [];
  let r: { ms: number };
  try {
    r = await attempt([]);
  } catch (e) {
    const why = (e as Error).message.match(/^.*(No config file found|script subprocess returned error).*$/m)?.[0]?.trim() ?? 'its dpkg --install step failed';
    notes.push(`plain --mode=${MMDEBSTRAP_MODE} failed (${why.slice(0, 100)}); retried with hooks that give the target the host's /etc/debconf.conf (removed afterwards); the time is the retry's`);
    rmSync(tar, { force: true });
    r = await attempt(DEBCONF_HOOKS);
  }
  const root = join(dir, 'mm-root');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root);
  await run('tar', ['-xf', tar, '-C', root, '--numeric-owner']);
  return { ms: r.ms, notes, du: await du(root), tar: await du(tar), gz: await countBytes(tar, createGzip({ level: 6 })) };
}

function writeSpec(image: Image): string {
  const dir = join(scratch, image.name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'pith.yaml'), `name: ${image.name}\npackages:\n${image.packages.map((p) => `  - ${p}\n`).join('')}`);
  return dir;
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mb = (n: number) => `${(n / 1e6).toFixed(2)} MB`;
const ratio = (a: number, b: number) => (a / b).toFixed(3);
const row = (cells: string[], widths: number[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('');

try {
  console.log(`pith bench:build — ${arch}, ${sources.length} apt source entries from this machine; mmdebstrap --mode=${MMDEBSTRAP_MODE} --variant=custom`);
  if (MMDEBSTRAP_MODE !== 'chrootless') console.log(`NOTE: mmdebstrap mode deviates from the issue's chrootless (MMDEBSTRAP_MODE=${MMDEBSTRAP_MODE})`);
  const staticCache = join(scratch, 'cache-static');
  for (const image of IMAGES) {
    const dir = writeSpec(image);
    const cache = join(scratch, `cache-${image.name}`);
    // Cold: empty cache, no lock — indexes fetched and verified, resolved, locked, every .deb downloaded.
    const cold = await pithBuild(dir, cache, 'out-cold');
    // Warm: the same cache and the lock the cold build wrote (a rebuild; InRelease is re-verified online).
    const warm = await pithBuild(dir, cache, 'out-warm');
    // Warm, relock: the same cache without the lock, so pith resolves again as mmdebstrap does each run.
    rmSync(join(dir, 'pith.lock'));
    const relock = await pithBuild(dir, cache, 'out-relock');
    const sizes = await pithUncompressed(warm);
    const mm = await mmdebstrap(image, dir);

    const w = [40, 12, 14, 16];
    console.log(`\n== ${image.name}: {${image.packages.join(', ')}} — pith ${warm.layers.length} layers, digest ${warm.digest}${cold.digest === warm.digest && warm.digest === relock.digest ? ' (cold = warm = relock)' : ' (DIGESTS DIFFER)'}`);
    for (const note of mm.notes) console.log(`NOTE: mmdebstrap ${note}`);
    console.log(row(['time', 'pith', 'mmdebstrap', 'pith/mmdebstrap'], w));
    console.log(row(['  cold (empty cache, no lock)', s(cold.ms), s(mm.ms), ratio(cold.ms, mm.ms)], w));
    console.log(row(['  warm (cache + lock)', s(warm.ms), s(mm.ms), ratio(warm.ms, mm.ms)], w));
    console.log(row(['  warm, relock (cache, no lock)', s(relock.ms), s(mm.ms), ratio(relock.ms, mm.ms)], w));
    console.log(row(['bytes', 'pith', 'mmdebstrap', 'pith/mmdebstrap'], w));
    console.log(row(['  uncompressed (du -sb of the rootfs)', mb(sizes.du), mb(mm.du), ratio(sizes.du, mm.du)], w));
    console.log(row(['  uncompressed (tar: layers / mm.tar)', mb(sizes.tar), mb(mm.tar), ratio(sizes.tar, mm.tar)], w));
    console.log(row(['  compressed (gzip layers / tar.gz -6)', mb(warm.compressed), mb(mm.gz), ratio(warm.compressed, mm.gz)], w));
  }

  const staticDir = writeSpec(STATIC);
  const st = await pithBuild(staticDir, staticCache, 'out');
  console.log(`\n== static: {${STATIC.packages.join(', ')}} — ${st.layers.length} layers, ${st.compressed} bytes (${mb(st.compressed)}) compressed, digest ${st.digest}`);
  console.log('\ngoals (issue 3): warm ≤ 0.05× mmdebstrap time, cold ≤ 0.5×, image bytes ≤ 0.6×. mmdebstrap downloads its .debs on every run (no cache) and runs maintainer scripts; pith trims docs/man/locales by default.');
} finally {
  if (!process.env.BENCH_KEEP) rmSync(scratch, { recursive: true, force: true });
  else console.log(`kept ${scratch}`);
}
