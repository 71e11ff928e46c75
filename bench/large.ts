// bench/large: issue 17, "large images with bounded memory". Large package sets built by pith and by
// `mmdebstrap --mode=root --variant=essential` in the same run, from the machine's apt sources, each under
// `/usr/bin/time -v`: wall-clock time and peak resident set size, with ratios pith/mmdebstrap.
//
// Sets (LARGE_SETS=jdk,python300 picks some, comma-separated; default both):
//   jdk        openjdk-17-jdk-headless, python3, gcc.
//   python300  300 `python3-*` binary packages. Selection rule (deterministic for a given archive): every distinct
//              package name starting with `python3-` in the `main` component's Packages index for this machine's
//              architecture (Architecture: <arch> or all), over all suites of the machine's apt sources, as pith's
//              own openArchive() reads them; sorted by byte order; taken in that order, each kept only if pith's
//              resolver (the library's resolve(), the one `pith lock` uses) still resolves the names kept so far
//              plus it — so a name that is not installable, or not installable together with the earlier ones, is
//              skipped — until 300 are kept. Skipped names are printed. `pith lock` then locks that set.
//
// Per set, in a scratch directory under /var/tmp (removed at the end unless BENCH_KEEP=1):
//   pith     write pith.yaml (`packages:` only; layers: left at pith's default budget), `pith lock`, one untimed
//            warm-up `pith build` into an oci: layout (downloads every .deb into the cache; it is measured too, as
//            "warm-up", since its time and peak are worth seeing when it fails), then the build cache is made cold
//            again — every refs/ namespace of pith's cache except the archive's indexes (inrelease, packages*,
//            contents*) is removed, so layers are assembled and compressed again and only .debs and indexes are
//            warm — and the timed `pith build SPEC --output oci:DIR --cache CACHE` into a fresh layout.
//   mmdebstrap  `--mode=root --variant=essential --include=<the same packages> SUITE TARGET <mirrors>`, the
//            mirrors being one-line apt entries made from loadAptSources() (the same sources pith uses). Warm cache:
//            the target's /var/cache/apt/archives and /var/lib/apt/lists are bind-mounted from scratch directories
//            (setup hook; unmounted by a customize hook, before mmdebstrap's cleanup), with --skip=essential/unlink
//            and --skip=cleanup/apt, so an untimed first run fills them and the timed run downloads no .deb and
//            only revalidates its indexes (apt-get update still runs, as pith still opens the archive).
// Peak RSS is /usr/bin/time's "Maximum resident set size": the largest single process of the command's tree (for
// pith the one node process; for mmdebstrap its largest child, apt, dpkg or a maintainer script's program).
// Goals (reported, never asserted): pith peak ≤ 300 MB, peak ≤ 2× mmdebstrap's, time ≤ 0.5× mmdebstrap's.
// A step that fails is reported as a row ("pith failed: …"); the exit status is 0 unless the bench itself breaks.
//
//   npm run bench:large                 LARGE_SETS=jdk npm run bench:large
//   LARGE_CACHE=DIR   use (and keep) this pith cache instead of a scratch one (its build refs are still dropped)
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';
import { loadAptSources, openArchive, resolve } from 'pith';
import { ensureBundle } from '../scripts/bundle.ts';
import { exec, type RunResult } from '../test/fixtures/exec.ts';

const PYTHON_COUNT = 300;
const GOAL_PEAK_BYTES = 300e6;
const ALL_SETS = ['jdk', 'python300'] as const;
type SetName = (typeof ALL_SETS)[number];

for (const [tool, pkg] of [['mmdebstrap', 'mmdebstrap'], ['/usr/bin/time', 'time']] as const) {
  if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error) {
    console.error(`bench:large needs ${tool} (the Debian package): apt-get install -y --no-install-recommends ${pkg}`);
    process.exit(1);
  }
}
if (process.getuid?.() !== 0) {
  console.error('bench:large runs mmdebstrap --mode=root (and bind mounts its apt cache): run it as root');
  process.exit(1);
}
const wanted = (process.env.LARGE_SETS ?? ALL_SETS.join(','))
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
for (const w of wanted) {
  if (!(ALL_SETS as readonly string[]).includes(w)) {
    console.error(`LARGE_SETS: unknown set "${w}"; expected a comma-separated subset of ${ALL_SETS.join(', ')}`);
    process.exit(2);
  }
}

const root = fileURLToPath(new URL('..', import.meta.url));
// Run as an installed `pith` is (its #! line, and the Node flag it sets), not as `node bin/pith.js`.
const bin = join(root, 'bin', 'pith.js');
mkdirSync('/var/tmp', { recursive: true });
const scratch = mkdtempSync(join('/var/tmp', 'pith-bench-large-'));
const cache = process.env.LARGE_CACHE || join(scratch, 'pith-cache');
const sources = loadAptSources();
const arch = spawnSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).stdout.trim() || 'amd64';
/** Bind mounts this run made, unmounted in `finally` if a hook did not get to it. */
const mounts = new Set<string>();

/** A command as the bench runs it: to its end however long it takes (mmdebstrap's 300-package run takes ~8 min). */
const run = (cmd: string, args: string[]): Promise<RunResult> => exec(cmd, args, { killAfterMs: null });

interface Measured extends RunResult {
  /** Wall-clock seconds and peak RSS in bytes, as /usr/bin/time -v reports them. */
  wall: number;
  peak: number;
}
/** `cmd args` under `/usr/bin/time -v`, its report written to a file so the command's own stderr stays apart. */
async function timed(cmd: string, args: string[]): Promise<Measured> {
  const report = join(scratch, `time-${Date.now()}-${Math.random().toString(36).slice(2)}.txt`);
  const r = await run('/usr/bin/time', ['-v', '-o', report, cmd, ...args]);
  const text = readFileSync(report, 'utf8');
  rmSync(report);
  const rss = text.match(/Maximum resident set size \(kbytes\): (\d+)/);
  const wall = text.match(/Elapsed \(wall clock\) time \([^)]*\): ([\d:.]+)/);
  if (!rss || !wall) throw new Error(`/usr/bin/time -v printed no RSS or wall-clock line for ${cmd}:\n${text}`);
  const seconds = wall[1]!.split(':').reduce((n, part) => n * 60 + Number(part), 0);
  return { ...r, wall: seconds, peak: Number(rss[1]) * 1024 };
}

/** What a failed command said: pith's "pith: CODE: message" line, else its last lines. */
function failure(r: RunResult): string {
  const pithLine = r.stderr.split('\n').filter((l) => l.startsWith('pith: ')).pop();
  if (pithLine) return pithLine.slice('pith: '.length).trim();
  const tail = `${r.stderr}\n${r.stdout}`.split('\n').map((l) => l.trim()).filter(Boolean).slice(-3).join(' | ');
  return `exit ${r.code}${tail ? `: ${tail.slice(0, 400)}` : ''}`;
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
 * The python300 set (see the header): sorted `python3-*` names of main for this architecture, each kept while the
 * resolver still resolves the kept names plus it.
 */
async function python300(): Promise<{ packages: string[]; skipped: Array<{ name: string; why: string }>; candidates: number }> {
  const archive = await openArchive({ sources, architectures: [arch], cacheDir: cache });
  const names = [
    ...new Set(
      archive
        .packages(arch)
        .filter((p) => p.name.startsWith('python3-') && p.origin.component === 'main' && (p.architecture === arch || p.architecture === 'all'))
        .map((p) => p.name),
    ),
  ].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const universe = archive.universe(arch);
  const kept: string[] = [];
  const skipped: Array<{ name: string; why: string }> = [];
  for (const name of names) {
    if (kept.length === PYTHON_COUNT) break;
    try {
      resolve(universe, [...kept, name], { architecture: arch });
      kept.push(name);
    } catch (e) {
      skipped.push({ name, why: (e as Error).message.split('\n')[0]!.slice(0, 160) });
    }
  }
  return { packages: kept, skipped, candidates: names.length };
}

/** Unpacked bytes through a stream chain (the uncompressed size of a gzip blob). */
async function countBytes(file: string, transform: NodeJS.ReadWriteStream | null): Promise<number> {
  let n = 0;
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => ((n += chunk.length), done()) });
  if (transform) await pipeline(createReadStream(file), transform, sink);
  else await pipeline(createReadStream(file), sink);
  return n;
}

/** The uncompressed size of a zstd blob, through the zstd command (Node 20 has no zstd). */
async function zstdBytes(file: string): Promise<number> {
  return new Promise((ok, fail) => {
    const child = spawn('zstd', ['-dc', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let n = 0;
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (n += d.length));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? ok(n) : fail(new Error(`zstd -dc ${file} exited ${code}: ${stderr.trim()}`))));
  });
}

interface ImageFacts {
  layers: number;
  uncompressed: number;
  compressed: number;
  biggest: { bytes: number; comment: string };
}
/** Layer count, uncompressed and compressed bytes, and the biggest layer (uncompressed), read from an OCI layout. */
async function imageFacts(layout: string): Promise<ImageFacts> {
  const blob = (digest: string) => join(layout, 'blobs', ...digest.split(':'));
  const json = (digest: string) => JSON.parse(readFileSync(blob(digest), 'utf8'));
  let desc = (JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; mediaType: string }> }).manifests[0]!;
  let manifest = json(desc.digest);
  while (manifest.manifests) {
    desc = manifest.manifests.find((m: { platform?: { architecture?: string } }) => m.platform?.architecture === arch) ?? manifest.manifests[0];
    manifest = json(desc.digest);
  }
  const config = json(manifest.config.digest) as { history?: Array<{ created_by?: string; comment?: string; empty_layer?: boolean }> };
  const comments = (config.history ?? []).filter((h) => !h.empty_layer).map((h) => h.created_by ?? h.comment ?? '');
  const facts: ImageFacts = { layers: manifest.layers.length, uncompressed: 0, compressed: 0, biggest: { bytes: -1, comment: '' } };
  for (const [i, layer] of (manifest.layers as Array<{ digest: string; size: number; mediaType: string }>).entries()) {
    let bytes: number;
    if (layer.mediaType.endsWith('+gzip') || layer.mediaType.endsWith('.gzip')) bytes = await countBytes(blob(layer.digest), createGunzip());
    else if (layer.mediaType.endsWith('+zstd')) bytes = await zstdBytes(blob(layer.digest));
    else if (layer.mediaType.endsWith('.tar') || layer.mediaType.endsWith('.layer.v1.tar')) bytes = await countBytes(blob(layer.digest), null);
    else throw new Error(`${layout}: layer ${layer.digest} has media type ${layer.mediaType}, which this bench cannot decompress`);
    facts.uncompressed += bytes;
    facts.compressed += layer.size;
    if (bytes > facts.biggest.bytes) facts.biggest = { bytes, comment: comments[i] ?? '' };
  }
  return facts;
}

/**
 * Makes pith's build cache cold again, keeping what the issue calls warm: the .debs (plain blobs, not refs) and the
 * archive's verified indexes. Returns the refs namespaces it removed.
 */
function dropBuildCache(): string[] {
  const refs = join(cache, 'refs');
  if (!existsSync(refs)) return [];
  const dropped = readdirSync(refs).filter((ns) => !/^(inrelease|packages|contents)/.test(ns));
  for (const ns of dropped) rmSync(join(refs, ns), { recursive: true, force: true });
  return dropped;
}

interface PithResult {
  error?: string;
  warmUp?: Measured;
  run?: Measured;
  facts?: ImageFacts;
  /** Why the image could not be read (the build itself succeeded). */
  factsError?: string;
  dropped: string[];
  locked?: number;
}
async function pith(name: string, packages: string[]): Promise<PithResult> {
  const dir = join(scratch, name, 'pith');
  mkdirSync(dir, { recursive: true });
  const spec = join(dir, 'pith.yaml');
  writeFileSync(spec, `# bench/large.ts, set ${name}\nname: ${name}\npackages:\n${packages.map((p) => `  - ${p}\n`).join('')}`);
  const cacheArgs = ['--cache', cache];
  step(`${name}: pith lock`);
  const lock = await run(bin, ['lock', spec, ...cacheArgs]);
  if (lock.code !== 0) return { error: `pith lock failed: ${failure(lock)}`, dropped: [] };
  let locked: number | undefined;
  try {
    const lockFile = JSON.parse(readFileSync(join(dir, 'pith.lock'), 'utf8')) as { architectures: Record<string, { packages: unknown[] }> };
    locked = lockFile.architectures[arch]?.packages.length;
  } catch {
    // a lock format this bench does not know: the count is only informative
  }
  step(`${name}: pith warm-up build`);
  const warmUp = await timed(bin, ['build', spec, '--output', `oci:${join(dir, 'out-warmup')}:${name}`, ...cacheArgs]);
  rmSync(join(dir, 'out-warmup'), { recursive: true, force: true });
  if (warmUp.code !== 0) return { error: `pith failed (untimed warm-up build): ${failure(warmUp)}`, warmUp, dropped: [], locked };
  const dropped = dropBuildCache();
  const out = join(dir, 'out');
  step(`${name}: pith timed build`);
  const measured = await timed(bin, ['build', spec, '--output', `oci:${out}:${name}`, ...cacheArgs]);
  if (measured.code !== 0) return { error: `pith failed: ${failure(measured)}`, warmUp, run: measured, dropped, locked };
  try {
    return { warmUp, run: measured, facts: await imageFacts(out), dropped, locked };
  } catch (e) {
    return { warmUp, run: measured, factsError: (e as Error).message, dropped, locked };
  }
}

interface MmResult {
  error?: string;
  warmUp?: Measured;
  run?: Measured;
  /** The .debs the warm-up left in the bind-mounted apt cache, for the timed run. */
  cached?: { debs: number; bytes: number };
}
async function mmdebstrap(name: string, packages: string[]): Promise<MmResult> {
  const dir = join(scratch, name, 'mmdebstrap');
  const debs = join(dir, 'archives');
  const lists = join(dir, 'lists');
  mkdirSync(debs, { recursive: true });
  mkdirSync(lists, { recursive: true });
  const suite = sources[0]!.suites[0]!;
  const attempt = async (target: string) => {
    rmSync(target, { recursive: true, force: true });
    const inTarget = [join(target, 'var/cache/apt/archives'), join(target, 'var/lib/apt/lists')];
    inTarget.forEach((m) => mounts.add(m));
    try {
      return await timed('mmdebstrap', [
        '--mode=root',
        '--variant=essential',
        `--architectures=${arch}`,
        `--include=${packages.join(',')}`,
        '--skip=essential/unlink',
        '--skip=cleanup/apt',
        `--setup-hook=mkdir -p "$1/var/cache/apt/archives" "$1/var/lib/apt/lists" && mount --bind '${debs}' "$1/var/cache/apt/archives" && mount --bind '${lists}' "$1/var/lib/apt/lists"`,
        `--customize-hook=umount "$1/var/cache/apt/archives" "$1/var/lib/apt/lists"`,
        suite,
        target,
        ...mirrorLines(),
      ]);
    } finally {
      unmount(inTarget);
    }
  };
  step(`${name}: mmdebstrap warm-up run`);
  const warmUp = await attempt(join(dir, 'warmup'));
  rmSync(join(dir, 'warmup'), { recursive: true, force: true });
  if (warmUp.code !== 0) return { error: `mmdebstrap failed (untimed warm-up run): ${failure(warmUp)}`, warmUp };
  const debFiles = readdirSync(debs).filter((f) => f.endsWith('.deb'));
  const cached = { debs: debFiles.length, bytes: debFiles.reduce((n, f) => n + statSync(join(debs, f)).size, 0) };
  step(`${name}: mmdebstrap timed run`);
  const measured = await attempt(join(dir, 'target'));
  rmSync(join(dir, 'target'), { recursive: true, force: true });
  if (measured.code !== 0) return { error: `mmdebstrap failed: ${failure(measured)}`, warmUp, run: measured, cached };
  return { warmUp, run: measured, cached };
}

/** Unmounts what is still mounted of `paths` (a hook that never ran), so removing the scratch dir cannot reach into a mount. */
function unmount(paths: Iterable<string>): void {
  const mounted = new Set(
    readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' ')),
  );
  for (const p of paths) {
    if (mounted.has(p)) spawnSync('umount', ['-l', p], { stdio: 'ignore' });
    mounts.delete(p);
  }
}

const secs = (n: number) => `${n.toFixed(1)} s`;
const MB = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
const ratio = (a: number, b: number) => (a / b).toFixed(2);
const yes = (ok: boolean) => (ok ? 'yes' : 'NO');
/** A layer's history line, shortened: the catch-all layer of a large image names a thousand packages. */
function label(comment: string, max = 120): string {
  if (comment.length <= max) return comment;
  const words = comment.split(' ');
  let out = '';
  for (const w of words) {
    if (out.length + w.length + 1 > max) break;
    out += (out ? ' ' : '') + w;
  }
  return `${out} … (${words.filter((w) => !w.endsWith(':')).length} names in all)`;
}
const started = performance.now();
/** A progress line on stderr: the long steps take minutes. */
const step = (what: string) => console.error(`  [${secs((performance.now() - started) / 1000)}] ${what}`);

async function benchSet(name: SetName): Promise<void> {
  let packages: string[];
  if (name === 'jdk') packages = ['openjdk-17-jdk-headless', 'python3', 'gcc'];
  else {
    step('python300: choosing the packages');
    const chosen = await python300();
    packages = chosen.packages;
    console.log(
      `\npython300: ${packages.length} of ${chosen.candidates} python3-* names of main (${packages[0]} … ${packages.at(-1)}); ` +
        `skipped as not installable with the earlier ones: ${chosen.skipped.length ? chosen.skipped.map((s) => `${s.name} (${s.why})`).join('; ') : 'none'}`,
    );
  }
  const p = await pith(name, packages);
  const m = await mmdebstrap(name, packages);

  console.log(`\n== ${name}${p.locked !== undefined ? ` (pith locked ${p.locked} packages)` : ''}`);
  if (p.warmUp) console.log(`  pith warm-up build (downloads, untimed for the ratios): ${secs(p.warmUp.wall)}, peak ${MB(p.warmUp.peak)}${p.warmUp.code === 0 ? '' : ' (failed)'}`);
  if (m.warmUp) console.log(`  mmdebstrap warm-up run (downloads, untimed for the ratios): ${secs(m.warmUp.wall)}, peak ${MB(m.warmUp.peak)}${m.warmUp.code === 0 ? '' : ' (failed)'}`);
  if (m.cached) console.log(`  mmdebstrap's apt cache for the timed run: ${m.cached.debs} .debs, ${MB(m.cached.bytes)}`);
  if (p.dropped.length) console.log(`  pith build cache made cold before the timed run: removed refs/{${p.dropped.join(',')}}`);
  if (p.error) console.log(`  ${p.error}${p.run ? ` (after ${secs(p.run.wall)}, peak ${MB(p.run.peak)})` : ''}`);
  if (m.error) console.log(`  ${m.error}${m.run ? ` (after ${secs(m.run.wall)}, peak ${MB(m.run.peak)})` : ''}`);
  const pr = p.error ? undefined : p.run;
  const mr = m.error ? undefined : m.run;
  const w = [28, 14, 16, 12];
  const row = (cells: string[]) => console.log(cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(''));
  row(['', 'pith', 'mmdebstrap', 'pith/mm']);
  row(['  wall (warm cache)', pr ? secs(pr.wall) : 'failed', mr ? secs(mr.wall) : 'failed', pr && mr ? ratio(pr.wall, mr.wall) : '-']);
  row(['  peak RSS', pr ? MB(pr.peak) : 'failed', mr ? MB(mr.peak) : 'failed', pr && mr ? ratio(pr.peak, mr.peak) : '-']);
  if (p.factsError) console.log(`  pith image: could not be read (${p.factsError})`);
  if (p.facts) {
    const f = p.facts;
    console.log(`  pith image: ${f.layers} layers, ${f.uncompressed} bytes (${MB(f.uncompressed)}) uncompressed, ${MB(f.compressed)} compressed`);
    console.log(`  biggest layer: ${f.biggest.bytes} bytes (${MB(f.biggest.bytes)}) uncompressed${f.biggest.comment ? ` — ${label(f.biggest.comment)}` : ''}`);
  }
  console.log(
    `  goals: peak ≤ 300 MB: ${pr ? yes(pr.peak <= GOAL_PEAK_BYTES) : '-'}; peak ≤ 2× mmdebstrap's: ${pr && mr ? yes(pr.peak <= 2 * mr.peak) : '-'}; ` +
      `time ≤ 0.5× mmdebstrap's: ${pr && mr ? yes(pr.wall <= 0.5 * mr.wall) : '-'}`,
  );
}

try {
  const cli = await ensureBundle(root);
  console.log(
    `pith bench:large — ${arch}, ${sources.length} apt source entries from this machine; sets: ${wanted.join(', ')}; ` +
      `pith runs from ${cli}; scratch ${scratch}; pith cache ${cache}`,
  );
  console.log('mmdebstrap --mode=root --variant=essential, its apt archives and lists bind-mounted from a scratch cache (warmed by an untimed first run)');
  for (const name of wanted as SetName[]) await benchSet(name);
  console.log('\ngoals (issue 17): pith peak RSS ≤ 300 MB, ≤ 2× mmdebstrap\'s; pith time ≤ 0.5× mmdebstrap\'s — reported, not asserted. ' +
    'mmdebstrap installs with dpkg and runs maintainer scripts (Essential set included); pith runs none and trims docs/man/locales.');
} finally {
  unmount([...mounts]);
  if (!process.env.BENCH_KEEP) rmSync(scratch, { recursive: true, force: true });
  else console.log(`kept ${scratch}`);
}
