// One pith run for bench/resolve.ts: open the archive (cold or warm cache) and resolve each set, printing timings.
import { loadAptSources, openArchive, resolve } from 'pith';

const [cacheDir, offline, ...sets] = process.argv.slice(2);
const t0 = performance.now();
const archive = await openArchive({ sources: loadAptSources(), architectures: ['amd64'], cacheDir, offline: offline === 'offline' });
const universe = archive.universe('amd64');
const t1 = performance.now();
const counts = sets.map((set) => resolve(universe, set!.split(' ')).packages.length);
const t2 = performance.now();
process.stdout.write(JSON.stringify({ loadMs: t1 - t0, resolveMs: t2 - t1, counts, packages: archive.packages('amd64').length }) + '\n');
