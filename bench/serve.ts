// bench/serve: the fleet store of `pith serve` at 1,000 images, on PGlite (in this process, data in a temporary
// directory) and on a real PostgreSQL 15 server (Debian's postgresql-15, started as test/fixtures/postgres.ts does,
// on a Unix socket) — the same schema and SQL on both. The fleet is generated, deterministic: 1,000 registry images
// of 50–200 packages each, drawn from a pool of 3,000 packages (a base of 20 that every image has, the rest
// skewed so some are common and most are rare; a quarter of them in two versions), with findings for ~4% of the
// pool's sources and a deployment for every other image. Measured on each database:
//   open:                 a new store, migrations applied (for PGlite, its initdb), then the same store again;
//   initial ingest:       recordSnapshot of the whole fleet (every image, package link, origin, finding);
//   refresh, no change:   the same fleet again (what every scheduled refresh costs when nothing moved);
//   refresh, 1 changed:   one image at a new digest with a changed package (median of 5, a different image each);
//   which images contain X: searchPackage over 100 names (10 of the base, 90 drawn by popularity), p50 and p95;
//                         goal ≤ 50 ms p95;
//   with version, CVE:    searchPackage(name, version) and searchCve over 100 ids, p95;
//   list, summary:        listImages and fleetSummary (the overview page), median of 10.
// Prints a table with the PGlite / PostgreSQL ratio. Asserts nothing. BENCH_IMAGES changes the fleet size.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type FleetFinding, type FleetImage, type FleetPackage, type FleetSnapshot, type FleetStore } from 'pith';
import { postgresMissing, PostgresServer } from '../test/fixtures/postgres.ts';

const IMAGES = Number(process.env.BENCH_IMAGES ?? 1000);
const POOL = 3000;
const BASE = 20;
const QUERIES = 100;
const GOAL_MS = 50;

/** A deterministic pseudo-random sequence: the same fleet on both databases, whatever was drawn before. */
function random(seed: number): (n: number) => number {
  // mulberry32: exact in 32-bit integer arithmetic (an LCG in doubles loses bits and can fall into short cycles).
  let s = seed >>> 0;
  return (n) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}
const quantile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(p * xs.length) - 1)]!;
const median = (xs: number[]) => quantile(xs, 0.5);
const hex = (n: number) => n.toString(16).padStart(64, '0');

// ─── The generated fleet ─────────────────────────────────────────────────────

/** Package i: its name, source (two binaries a source, as libssl3/openssl), and one or two versions. */
const pool = Array.from({ length: POOL }, (_, i) => {
  const source = `src${Math.floor(i / 2)}`;
  const v = `${1 + (i % 9)}.${i % 17}-${1 + (i % 4)}`;
  const versions = i % 4 === 0 ? [`${v}+deb12u1`, `${v}+deb12u2`] : [v];
  return { name: i < BASE ? `base${i}` : `lib${i}`, source, versions };
});
const packageOf = (i: number, which = 0): FleetPackage => {
  const p = pool[i]!;
  const version = p.versions[Math.min(which, p.versions.length - 1)]!;
  return { name: p.name, version, architecture: 'amd64', source: p.source, sourceVersion: version };
};
/** Skewed: low indexes (common libraries) are drawn far more often than high ones. */
const popular = (rand: (n: number) => number) => BASE + Math.floor((POOL - BASE) * (rand(10_000) / 10_000) ** 1.6);
/** Sources with an advisory; the fix is published for two thirds of them. */
const advised = (source: string) => Number(source.slice(3)) % 25 === 3;

function makeImage(n: number, generation = 0): FleetImage {
  const rand = random(n * 7919 + generation + 1);
  const picked = new Set<number>(Array.from({ length: BASE }, (_, i) => i));
  const size = 50 + rand(151);
  while (picked.size < size) picked.add(popular(rand));
  const packages = [...picked].sort((a, b) => a - b).map((i) => packageOf(i, (n + i + generation) % 2));
  return {
    digest: `sha256:${hex(n * 1000 + generation)}`,
    platform: 'linux/amd64',
    name: `app${n}`,
    origins: [{ kind: 'registry', registry: '127.0.0.1:5000', repository: `team${n % 20}/app${n}`, tag: 'prod' }],
    inventory: 'sbom',
    release: 'bookworm',
    packages,
  };
}

function findingsOf(images: FleetImage[]): FleetFinding[] {
  return images.flatMap((image) => image.packages.filter((p) => advised(p.source)).map((p) => {
    const s = Number(p.source.slice(3));
    return {
      digest: image.digest, id: `CVE-2026-${10_000 + s}`, package: p.name, installed: p.version, source: p.source,
      fixAvailable: s % 3 !== 0, ...(s % 3 !== 0 ? { fixed: `${p.version}+fix` } : {}), severity: ['low', 'medium', 'high', 'critical'][s % 4]!,
    };
  }));
}

function snapshotOf(images: FleetImage[], minute: number): FleetSnapshot {
  return {
    takenAt: new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString(),
    images,
    deployments: images.filter((_, n) => n % 2 === 0).map((image) => ({
      file: `deploy/${image.name}.yaml`, workload: `Deployment/${image.name}`, container: 'app',
      reference: `127.0.0.1:5000/${image.name}@${image.digest}`, digest: image.digest,
    })),
    errors: [],
  };
}

const fleet = Array.from({ length: IMAGES }, (_, n) => makeImage(n));
const links = fleet.reduce((n, i) => n + i.packages.length, 0);
const distinct = new Set(fleet.flatMap((i) => i.packages.map((p) => `${p.name} ${p.version}`))).size;
const queries = random(42);
const queryNames = [
  ...Array.from({ length: 10 }, (_, i) => pool[i]!.name),
  ...Array.from({ length: QUERIES - 10 }, () => pool[popular(queries)]!.name),
];
const queryVersions = queryNames.map((name, i) => {
  const p = pool.find((x) => x.name === name)!;
  return p.versions[i % p.versions.length]!;
});
const cves = [...new Set(findingsOf(fleet).map((f) => f.id))].slice(0, QUERIES);

// ─── Measuring one database ──────────────────────────────────────────────────

type Figures = Record<string, number>;

async function measure(location: string): Promise<Figures & { hits: number }> {
  const time = async <T>(fn: () => Promise<T>) => {
    const start = performance.now();
    const value = await fn();
    return { ms: performance.now() - start, value };
  };
  const opened = await time(() => openStore(location));
  await opened.value.close();
  const reopened = await time(() => openStore(location));
  const store: FleetStore = reopened.value;
  try {
    const ingest = await time(() => store.recordSnapshot(snapshotOf(fleet, 0), findingsOf(fleet)));
    if (ingest.value.packageLinksWritten !== links) throw new Error(`ingest wrote ${ingest.value.packageLinksWritten} links, expected ${links}`);
    const same = await time(() => store.recordSnapshot(snapshotOf(fleet, 10), findingsOf(fleet)));
    if (same.value.packageLinksWritten !== 0) throw new Error('an unchanged refresh rewrote package links');
    const changed: number[] = [];
    let images = fleet;
    for (let r = 1; r <= 5; r++) {
      const n = (r * 197) % IMAGES;
      images = images.map((image, i) => (i === n ? makeImage(n, r) : image));
      const one = await time(() => store.recordSnapshot(snapshotOf(images, 10 + r), findingsOf(images)));
      if (one.value.newImages !== 1 || one.value.movedOrigins !== 1) throw new Error(`a 1-image refresh recorded ${one.value.newImages} new images`);
      changed.push(one.ms);
    }
    const search: number[] = [];
    let hits = 0;
    for (const name of queryNames) {
      const q = await time(() => store.searchPackage(name));
      search.push(q.ms);
      hits += q.value.length;
    }
    const versioned: number[] = [];
    for (const [i, name] of queryNames.entries()) versioned.push((await time(() => store.searchPackage(name, queryVersions[i]))).ms);
    const cve: number[] = [];
    for (const id of cves) cve.push((await time(() => store.searchCve(id))).ms);
    const list: number[] = [];
    const summary: number[] = [];
    for (let r = 0; r < 10; r++) {
      list.push((await time(() => store.listImages())).ms);
      summary.push((await time(() => store.fleetSummary())).ms);
    }
    return {
      open: opened.ms,
      reopen: reopened.ms,
      ingest: ingest.ms,
      same: same.ms,
      changed: median(changed),
      searchP50: median(search),
      searchP95: quantile(search, 0.95),
      searchMax: Math.max(...search),
      versionedP95: quantile(versioned, 0.95),
      cveP95: quantile(cve, 0.95),
      list: median(list),
      summary: median(summary),
      hits,
    };
  } finally {
    await store.close();
  }
}

// ─── Run ─────────────────────────────────────────────────────────────────────

const scratch = mkdtempSync(join(tmpdir(), 'pith-bench-serve-'));
let server: PostgresServer | undefined;
try {
  console.log(`bench:serve — ${IMAGES} images, ${links} package links, ${distinct} distinct packages (pool ${POOL}), ${findingsOf(fleet).length} findings, ${snapshotOf(fleet, 0).deployments.length} deployments`);
  const pglite = await measure(join(scratch, 'pglite'));
  const skip = (() => {
    try {
      return postgresMissing();
    } catch (e) {
      return (e as Error).message;
    }
  })();
  let postgres: (Figures & { hits: number }) | undefined;
  if (skip) console.log(`  PostgreSQL not measured: ${skip}`);
  else {
    server = await PostgresServer.start();
    postgres = await measure(server.url());
  }
  if (postgres && postgres.hits !== pglite.hits) throw new Error(`the two databases found different images: ${pglite.hits} vs ${postgres.hits}`);
  const rows: Array<[string, string]> = [
    ['open a new store (create, migrate)', 'open'],
    ['open it again (up to date)', 'reopen'],
    ['initial ingest', 'ingest'],
    ['refresh, nothing changed', 'same'],
    ['refresh, 1 image changed (median of 5)', 'changed'],
    [`which images contain X, p50 (${QUERIES} names)`, 'searchP50'],
    [`which images contain X, p95 (goal ≤ ${GOAL_MS} ms)`, 'searchP95'],
    ['which images contain X, slowest', 'searchMax'],
    ['… at a version, p95', 'versionedP95'],
    [`which images have CVE-…, p95 (${cves.length} ids)`, 'cveP95'],
    ['list every image (median of 10)', 'list'],
    ['fleet summary (median of 10)', 'summary'],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  console.log(`  ${'figure'.padEnd(width)}  ${'PGlite'.padStart(10)}  ${'PostgreSQL'.padStart(10)}  PGlite/PostgreSQL`);
  for (const [label, key] of rows) {
    const a = pglite[key]!;
    const b = postgres?.[key];
    console.log(`  ${label.padEnd(width)}  ${`${a.toFixed(1)} ms`.padStart(10)}  ${(b === undefined ? '—' : `${b.toFixed(1)} ms`).padStart(10)}  ${b === undefined ? '' : `${(a / b).toFixed(2)}×`}`);
  }
  console.log(`  ${pglite.hits / QUERIES} images a search on average; goal p95 ≤ ${GOAL_MS} ms: PGlite ${pglite.searchP95 <= GOAL_MS ? 'met' : 'missed'}` +
    (postgres ? `, PostgreSQL ${postgres.searchP95 <= GOAL_MS ? 'met' : 'missed'}` : ''));
} finally {
  await server?.stop();
  rmSync(scratch, { recursive: true, force: true });
}
