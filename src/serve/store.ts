/**
 * The fleet store: what every refresh of `pith serve` saw, kept over time, on PGlite (a directory) or a PostgreSQL
 * server, with one schema (./migrations) and one set of SQL. A refresh is recorded in one transaction, and every
 * read runs in one read-only transaction, so a page or API call sees the fleet before a refresh or after it, never
 * part of it. The queries return plain data (no database types) for the pages, the API and the metrics.
 *
 * What "over time" means here:
 * - an origin (a registry tag, a spec file) points at one image at a time; when it points at a new digest the
 *   old one stays in its history (`origin_images`);
 * - a finding keeps the time it was first seen, on the image and on the origin's lineage; the lineage's finding is
 *   resolved when the origin's image no longer has it, and time to patch runs from when its fix was first
 *   available to then (and to when a manifest first ran the fixed digest);
 * - a source that fails keeps what it last showed, marked stale, with the time of its last good read.
 */
import { createHash } from 'node:crypto';
import { PithError } from '../errors.ts';
import { openDb, type Db, type Sql } from './db.ts';
import { MIGRATIONS } from './migrations/index.ts';
import type { Deployment, FleetFinding, FleetImage, FleetPackage, FleetSnapshot, ImageOrigin } from './model.ts';

// Advisory lock keys (any constants unique to pith): one serialises migrations, one serialises refresh writers.
const MIGRATION_LOCK = 0x70697468_01;
const WRITE_LOCK = 0x70697468_02;

/** Rows sent in one statement: well under PostgreSQL's 1 GB message limit and PGlite's memory at 10^5 links. */
const CHUNK = 20_000;

// ─── What the queries return ────────────────────────────────────────────────

export type OriginState = 'current' | 'stale' | 'gone';

export interface OriginView {
  kind: 'spec' | 'registry';
  /** `HOST[:PORT]/REPOSITORY:TAG`, or the spec file. */
  reference: string;
  /** current: seen by the last refresh; stale: its source failed and this is its last good read; gone: no longer there. */
  state: OriginState;
}

export interface ImageSummary {
  digest: string;
  name: string;
  platform: string;
  /** Where it is found now (and, if its source failed, where it was last found). */
  origins: OriginView[];
  /** `both` when it has both kinds of origin, or a registry image's name is a spec's name (or the reverse). */
  source: 'spec' | 'registry' | 'both';
  inventory: FleetImage['inventory'];
  release?: string;
  packageCount: number;
  /** Advisories with a fix in the archive that this image still has. */
  openFixes: number;
  /** Not seen by the last refresh because its source failed: kept as last read. */
  stale: boolean;
  /** For a stale image, the last time its source was read. */
  lastGoodRead?: string;
  error?: string;
}

export interface DeploymentView {
  file: string;
  workload: string;
  container?: string;
  reference: string;
  digest?: string;
  /** When a refresh first saw this workload run this reference. */
  firstSeen: string;
  /** In the manifests now (or, stale, in manifests that the last refresh could not read). */
  current: boolean;
  stale: boolean;
}

export interface PackageHit {
  digest: string;
  name: string;
  platform: string;
  stale: boolean;
  installed: FleetPackage;
  origins: OriginView[];
  /** Where the digest runs now. */
  deployments: DeploymentView[];
}

/** A finding of one image, with when refreshes first saw it and first saw its fix in the archive. */
export interface FindingView extends Omit<FleetFinding, 'digest'> {
  firstSeen: string;
  fixFirstSeen?: string;
}

export interface CveHit {
  digest: string;
  name: string;
  platform: string;
  stale: boolean;
  /** The image's packages the advisory affects. */
  findings: FindingView[];
  origins: OriginView[];
  deployments: DeploymentView[];
}

export interface ImageDetail {
  image: ImageSummary;
  /** Listed in the fleet now (an old digest of an origin is not, but keeps its page). */
  listed: boolean;
  firstSeen: string;
  packages: FleetPackage[];
  findings: FindingView[];
  /** Every origin that ever pointed at this digest (its state says whether it still does). */
  origins: Array<OriginView & { pointsHere: boolean }>;
  /** The digests those origins pointed at, oldest first. */
  history: Array<{ origin: string; digest: string; since: string; until?: string }>;
  /** Every workload seen running this digest, current ones first. */
  deployments: DeploymentView[];
}

export interface PatchEvent {
  /** The advisory (CVE id, else the advisory's own). */
  id: string;
  /** The origin whose lineage had it. */
  origin: string;
  /** The name of the image that fixed it. */
  image: string;
  severity?: string;
  packages: string[];
  firstSeen: string;
  fixAvailableAt?: string;
  /** When the origin was first seen at a digest without it. */
  fixedAt: string;
  fixedDigest: string;
  /** When a manifest was first seen running the fixed digest. */
  deployedAt?: string;
  /** fixedAt − fixAvailableAt, when the fix's availability was seen. */
  secondsToImage?: number;
  /** deployedAt − fixAvailableAt. */
  secondsToDeploy?: number;
}

export interface FleetSummary {
  images: number;
  staleImages: number;
  imageErrors: number;
  /** Distinct installed packages (name, version, architecture) across the listed images. */
  packages: number;
  packageNames: number;
  /** Per image, the advisories with a fix available; summed over the images (as listImages' openFixes). */
  openFixes: { total: number; bySeverity: Record<string, number> };
  timeToPatch: {
    /** Resolved findings whose fix availability was seen, and the seconds from it to a fixed image. */
    resolved: number;
    medianSeconds?: number;
    p95Seconds?: number;
    /** Of those, the ones whose fixed digest a manifest ran, and the seconds from fix availability to it. */
    deployed: number;
    deployMedianSeconds?: number;
    deployP95Seconds?: number;
  };
  lastRefresh?: RefreshRecord;
}

export interface SourceStatus {
  source: string;
  lastGoodRead?: string;
  stale: boolean;
  error?: string;
  errorAt?: string;
}

export interface RefreshRecord {
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  images: number;
  sourceErrors: number;
  imageErrors: number;
}

/** What recording one snapshot changed: for the log and for the benchmark to confirm work was skipped. */
export interface RecordResult {
  refresh: RefreshRecord;
  newImages: number;
  /** Known digests whose package list was read anew (it had failed before, or its inventory changed). */
  relinkedImages: number;
  packageLinksWritten: number;
  movedOrigins: number;
  resolvedFindings: number;
}

// ─── Opening ─────────────────────────────────────────────────────────────────

/**
 * Opens the store: PGlite in the directory `database` (made if missing), or the PostgreSQL server of a
 * `postgres://` / `postgresql://` URL (a Unix socket directory goes in `?host=`). Pending migrations are applied
 * first, once, whatever the number of processes opening it at the same time. Call `close()`: an open PGlite keeps
 * the process alive.
 */
export async function openStore(database: string): Promise<FleetStore> {
  const db = await openDb(database);
  try {
    await migrate(db);
  } catch (e) {
    await db.close().catch(() => {});
    throw e;
  }
  return new FleetStore(db);
}

/** Applies the migrations this store lacks, in one transaction; returns the versions applied (none: up to date). */
async function migrate(db: Db): Promise<number[]> {
  return db.transaction(async (tx) => {
    // Held until commit: a second opener waits here, then finds the versions the first one recorded.
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await tx.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    const done = new Set((await tx.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => r.version));
    const known = Math.max(...MIGRATIONS.map((m) => m.version));
    const newest = Math.max(0, ...done);
    if (newest > known) {
      throw new PithError('SERVE_SCHEMA_NEWER', `the store at ${db.location} has schema version ${newest}; this pith knows versions up to ${known}: upgrade pith, or use another --database`);
    }
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    return applied;
  });
}

// ─── Keys and helpers ────────────────────────────────────────────────────────

export function originKey(o: ImageOrigin): string {
  return o.kind === 'registry' ? `registry:${o.registry}/${o.repository}:${o.tag}` : `spec:${o.spec}`;
}

export function originReference(o: { kind: string; registry?: string | null; repository?: string | null; tag?: string | null; spec?: string | null }): string {
  return o.kind === 'registry' ? `${o.registry}/${o.repository}:${o.tag}` : o.spec!;
}

/** The source an origin is read from, as refreshes name sources (SourceError.source). */
export function originSource(o: ImageOrigin): string {
  return o.kind === 'registry' ? `registry ${o.registry}` : `spec ${o.spec}`;
}

/** What a source name covers: `registry H` covers H's repositories, `spec DIR` and `manifests DIR` the files below. */
function covers(source: string, kind: 'registry' | 'spec' | 'manifests', path: string): boolean {
  const space = source.indexOf(' ');
  if (space < 0 || source.slice(0, space) !== kind) return false;
  const target = source.slice(space + 1).replace(/\/+$/, '');
  return path === target || path.startsWith(`${target}/`);
}

const originPath = (o: { kind: string; registry?: string | null; repository?: string | null; spec?: string | null }) =>
  o.kind === 'registry' ? `${o.registry}/${o.repository}` : o.spec!;

const deploymentKey = (d: { file: string; workload: string; container?: string | null; reference: string; digest?: string | null }) =>
  JSON.stringify([d.file, d.workload, d.container ?? '', d.reference, d.digest ?? '']);

const findingKey = (advisory: string, pkg: string) => `${advisory}\u0000${pkg}`;

const SEVERITY_ORDER = ['critical', 'high', 'medium', 'moderate', 'low', 'negligible', 'unimportant'];
const SEVERITY_RANK_SQL = `CASE lower(f.severity) ${SEVERITY_ORDER.map((s, i) => `WHEN '${s}' THEN ${i}`).join(' ')} ELSE ${SEVERITY_ORDER.length} END`;
function severityRank(s: string | null | undefined): number {
  const i = s ? SEVERITY_ORDER.indexOf(s.toLowerCase()) : -1;
  return i < 0 ? SEVERITY_ORDER.length : i;
}
/** The more severe of two (a CVE that affects two packages of an image counts once, at its worst). */
function worse(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return severityRank(b) < severityRank(a) ? b : a;
}

function iso(v: unknown): string {
  return (v instanceof Date ? v : new Date(v as string)).toISOString();
}

function parseTime(value: string, what: string): Date {
  const d = new Date(value);
  if (typeof value !== 'string' || !/^\d{4}-\d\d-\d\dT/.test(value) || Number.isNaN(d.getTime())) {
    throw new PithError('SERVE_SNAPSHOT_INVALID', `${what}: expected an ISO 8601 time (2026-01-31T12:00:00Z), found ${JSON.stringify(value)}`);
  }
  return d;
}

/** Linear interpolation between the closest ranks, as PostgreSQL's percentile_cont. */
export function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const at = p * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

function groupBy<T, K>(items: T[], key: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const group = groups.get(key(item));
    if (group) group.push(item);
    else groups.set(key(item), [item]);
  }
  return groups;
}

function chunks<T>(items: T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function validate(snapshot: FleetSnapshot, findings: FleetFinding[]): void {
  parseTime(snapshot.takenAt, 'snapshot takenAt');
  const digests = new Set<string>();
  for (const image of snapshot.images) {
    if (digests.has(image.digest)) {
      throw new PithError('SERVE_SNAPSHOT_INVALID', `the snapshot of ${snapshot.takenAt} lists the image ${image.digest} twice; expected one entry per digest with all its origins`);
    }
    digests.add(image.digest);
    const keys = new Set<string>();
    for (const p of image.packages) {
      const key = `${p.name}\u0000${p.architecture}\u0000${p.version}`;
      if (keys.has(key)) {
        throw new PithError('SERVE_SNAPSHOT_INVALID', `the image ${image.digest} (${image.name}) lists ${p.name}:${p.architecture} ${p.version} twice`);
      }
      keys.add(key);
    }
  }
  for (const f of findings) {
    if (!digests.has(f.digest)) {
      throw new PithError('SERVE_SNAPSHOT_INVALID', `a finding (${f.id} in ${f.package}) names the image ${f.digest}, which the snapshot of ${snapshot.takenAt} does not list`);
    }
  }
}

/**
 * The rows of a SELECT, fetched as one JSON array: PGlite decodes a row at a time in JavaScript, which for 1,000
 * rows costs ten times what one JSON value does (bench/serve); `pg` reads either as fast. Values come back as JSON
 * has them (times as ISO strings, which iso() reads). The order is the subquery's: PostgreSQL aggregates rows in
 * the order a sorted subquery yields them.
 */
async function many<R>(tx: Sql, select: string, params: unknown[] = []): Promise<R[]> {
  const [row] = await tx.query<{ rows: R[] }>(`SELECT COALESCE(json_agg(x), '[]'::json) AS rows FROM (${select}) x`, params);
  return row!.rows;
}

// ─── Row types ───────────────────────────────────────────────────────────────

interface ImageRow {
  id: number;
  digest: string;
  name: string;
  platform: string;
  inventory: FleetImage['inventory'];
  release: string | null;
  error: string | null;
  package_count: number;
  findings_hash: string | null;
  open_fixes: number;
  first_seen: Date | string;
  listed: boolean;
  stale: boolean;
}

interface OriginRow {
  id: number;
  key: string;
  kind: 'spec' | 'registry';
  registry: string | null;
  repository: string | null;
  tag: string | null;
  spec: string | null;
  lock: string | null;
  spec_name: string | null;
  source: string;
  image_id: number;
  state: OriginState;
  last_good_read: Date | string | null;
}

interface DeploymentRow {
  id: number;
  file: string;
  workload: string;
  container: string;
  reference: string;
  digest: string;
  first_seen: Date | string;
  current: boolean;
  stale: boolean;
}

const originView = (o: OriginRow): OriginView => ({ kind: o.kind, reference: originReference(o), state: o.state });

const deploymentView = (d: DeploymentRow): DeploymentView => ({
  file: d.file,
  workload: d.workload,
  ...(d.container ? { container: d.container } : {}),
  reference: d.reference,
  ...(d.digest ? { digest: d.digest } : {}),
  firstSeen: iso(d.first_seen),
  current: d.current,
  stale: d.stale,
});

interface FindingRow {
  image_id: number;
  advisory: string;
  package: string;
  installed: string;
  source: string;
  fixed: string | null;
  fix_available: boolean;
  severity: string | null;
  first_seen: Date | string;
  fix_first_seen: Date | string | null;
}

const findingView = (f: FindingRow): FindingView => ({
  id: f.advisory,
  package: f.package,
  installed: f.installed,
  source: f.source,
  ...(f.fixed !== null ? { fixed: f.fixed } : {}),
  fixAvailable: f.fix_available,
  ...(f.severity !== null ? { severity: f.severity } : {}),
  firstSeen: iso(f.first_seen),
  ...(f.fix_first_seen !== null ? { fixFirstSeen: iso(f.fix_first_seen) } : {}),
});

const PACKAGE_COLUMNS = 'p.name, p.version, p.architecture, p.source, p.source_version';
const packageOf = (r: { name: string; version: string; architecture: string; source: string; source_version: string }): FleetPackage => ({
  name: r.name,
  version: r.version,
  architecture: r.architecture,
  source: r.source,
  sourceVersion: r.source_version,
});

// ─── The store ───────────────────────────────────────────────────────────────

export class FleetStore {
  constructor(private readonly db: Db) {}

  get kind(): Db['kind'] {
    return this.db.kind;
  }

  /** The directory, or the server URL without its password. */
  get location(): string {
    return this.db.location;
  }

  close(): Promise<void> {
    return this.db.close();
  }

  /** Throws SERVE_DATABASE_UNAVAILABLE unless the database answers (for /healthz). */
  async ping(): Promise<void> {
    try {
      await this.db.query('SELECT 1');
    } catch (e) {
      throw new PithError('SERVE_DATABASE_UNAVAILABLE', `the store at ${this.db.location} does not answer: ${(e as Error).message}`, { cause: e });
    }
  }

  /** The schema versions applied, oldest first. */
  async schemaVersions(): Promise<number[]> {
    return (await this.db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).map((r) => r.version);
  }

  /**
   * Records one refresh: its images (by digest: a known digest's packages are not written again), origins,
   * deployments, source errors and findings, all in one transaction. `finishedAt` (default now) closes the
   * refresh's timing, which started at `snapshot.takenAt`.
   */
  async recordSnapshot(snapshot: FleetSnapshot, findings: FleetFinding[], options: { finishedAt?: string } = {}): Promise<RecordResult> {
    validate(snapshot, findings);
    const at = parseTime(snapshot.takenAt, 'snapshot takenAt');
    const finished = options.finishedAt === undefined ? new Date() : parseTime(options.finishedAt, 'finishedAt');
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [WRITE_LOCK]);
      const failed = new Map(snapshot.errors.map((e) => [e.source, e.message]));
      const failedSources = [...failed.keys()];
      const isFailed = (kind: 'registry' | 'spec' | 'manifests', path: string) => failedSources.some((s) => covers(s, kind, path));

      const images = await recordImages(tx, snapshot, at);
      const origins = await recordOrigins(tx, snapshot, images.ids, at, isFailed);

      // Listed: seen now, or kept because the source of an origin pointing at it failed.
      const seen = [...images.ids.values()];
      const seenSet = new Set(seen);
      const staleIds = [...new Set(origins.rows.filter((o) => o.state === 'stale').map((o) => o.image_id))].filter((id) => !seenSet.has(id));
      const listed = [...seen, ...staleIds];
      await tx.query(
        `UPDATE images SET listed = (id = ANY($1::int[])), stale = (id = ANY($2::int[]))
         WHERE listed <> (id = ANY($1::int[])) OR stale <> (id = ANY($2::int[]))`,
        [listed, staleIds],
      );

      // Unreadable now: nothing is known to have been fixed (or found) in it, so neither it nor its lineage moves.
      const unreadable = new Set(snapshot.images.filter((i) => i.error !== undefined).map((i) => i.digest));
      const unreadableIds = new Set([...unreadable].map((d) => images.ids.get(d)!));
      const changed = await recordImageFindings(tx, findings, images.ids, images.findingsHashes, unreadable, at);
      const follow = origins.rows.filter((o) =>
        o.state === 'current' && !unreadableIds.has(o.image_id) && (origins.touched.has(o.id) || changed.has(o.image_id)));
      const resolved = await recordLineage(tx, findings, images.ids, follow, at);
      await recordDeployments(tx, snapshot.deployments, at, (file) => isFailed('manifests', file));

      // Sources: the ones named as read (else those the snapshot's items came from), and the failed ones.
      const read = new Set(snapshot.sources ?? [
        ...snapshot.images.flatMap((i) => i.origins.map(originSource)),
        ...snapshot.deployments.map((d) => `manifests ${d.file}`),
      ]);
      for (const source of failedSources) read.delete(source);
      const good = [...read].sort();
      if (good.length > 0) {
        await tx.query(
          `INSERT INTO sources (key, last_good_read, stale) SELECT k, $2, false FROM unnest($1::text[]) AS k
           ON CONFLICT (key) DO UPDATE SET last_good_read = excluded.last_good_read, stale = false, last_error = NULL, last_error_at = NULL`,
          [good, at],
        );
      }
      if (failedSources.length > 0) {
        await tx.query(
          `INSERT INTO sources (key, last_error, last_error_at, stale) SELECT k, m, $3, true FROM unnest($1::text[], $2::text[]) AS u(k, m)
           ON CONFLICT (key) DO UPDATE SET last_error = excluded.last_error, last_error_at = excluded.last_error_at, stale = true`,
          [failedSources, failedSources.map((s) => failed.get(s)!), at],
        );
      }

      const refresh: RefreshRecord = {
        startedAt: at.toISOString(),
        finishedAt: finished.toISOString(),
        durationMs: Math.max(0, finished.getTime() - at.getTime()),
        images: listed.length,
        sourceErrors: snapshot.errors.length,
        imageErrors: snapshot.images.filter((i) => i.error !== undefined).length,
      };
      await tx.query(
        'INSERT INTO refreshes (started_at, finished_at, duration_ms, images, source_errors, image_errors) VALUES ($1, $2, $3, $4, $5, $6)',
        [refresh.startedAt, refresh.finishedAt, refresh.durationMs, refresh.images, refresh.sourceErrors, refresh.imageErrors],
      );
      return {
        refresh,
        newImages: images.inserted,
        relinkedImages: images.relinked,
        packageLinksWritten: images.links,
        movedOrigins: origins.moved,
        resolvedFindings: resolved,
      };
    });
  }

  /** Every image in the fleet now (stale ones included), by name then digest. */
  async listImages(): Promise<ImageSummary[]> {
    return this.read(async (tx) => summaries(tx, 'i.listed'));
  }

  /** The listed images that contain the package `name` (at `version`, when given), with where each runs. */
  async searchPackage(name: string, version?: string): Promise<PackageHit[]> {
    return this.read(async (tx) => {
      const rows = await many<HitImage & { pname: string; pversion: string; architecture: string; psource: string; source_version: string }>(
        tx,
        `SELECT ${HIT_COLUMNS}, p.name AS pname, p.version AS pversion, p.architecture, p.source AS psource, p.source_version
         FROM packages p JOIN image_packages ip ON ip.package_id = p.id JOIN images i ON i.id = ip.image_id
         WHERE p.name = $1 AND ($2::text IS NULL OR p.version = $2) AND i.listed
         ORDER BY i.name, i.digest, p.architecture, p.version`,
        [name, version ?? null],
      );
      const where = await around(tx, rows);
      return rows.map((r) => ({
        ...where(r),
        installed: { name: r.pname, version: r.pversion, architecture: r.architecture, source: r.psource, sourceVersion: r.source_version },
      }));
    });
  }

  /** The listed images an advisory (CVE id, else the advisory's own id; any case) affects, with where each runs. */
  async searchCve(id: string): Promise<CveHit[]> {
    return this.read(async (tx) => {
      const rows = await many<FindingRow>(
        tx,
        `SELECT f.* FROM image_findings f JOIN images i ON i.id = f.image_id
         WHERE upper(f.advisory) = upper($1) AND i.listed ORDER BY f.package`,
        [id],
      );
      const ids = [...new Set(rows.map((r) => r.image_id))];
      const images = await many<HitImage>(tx, `SELECT ${HIT_COLUMNS} FROM images i WHERE i.id = ANY($1::int[]) ORDER BY i.name, i.digest`, [ids]);
      const where = await around(tx, images);
      const findingsOf = groupBy(rows, (r) => r.image_id);
      return images.map((i) => ({ ...where(i), findings: findingsOf.get(i.id)!.map(findingView) }));
    });
  }

  /** One image by digest, listed or not (an old digest keeps its page); undefined when the store never saw it. */
  async imageDetail(digest: string): Promise<ImageDetail | undefined> {
    return this.read(async (tx) => {
      const [row] = await tx.query<ImageRow>('SELECT * FROM images WHERE digest = $1', [digest]);
      if (!row) return undefined;
      const [image] = await summaries(tx, 'i.id = $1', [row.id]);
      const packages = await many<Parameters<typeof packageOf>[0]>(
        tx,
        `SELECT ${PACKAGE_COLUMNS} FROM image_packages ip JOIN packages p ON p.id = ip.package_id
         WHERE ip.image_id = $1 ORDER BY p.name, p.architecture, p.version`,
        [row.id],
      );
      const findings = await many<FindingRow>(tx, 'SELECT * FROM image_findings WHERE image_id = $1 ORDER BY advisory, package', [row.id]);
      const origins = await many<OriginRow>(
        tx,
        `SELECT * FROM origins WHERE id IN (SELECT origin_id FROM origin_images WHERE image_id = $1) ORDER BY key`,
        [row.id],
      );
      const history = await many<{ origin_id: number; digest: string; since: Date | string; until: Date | string | null }>(
        tx,
        `SELECT oi.origin_id, i.digest, oi.since, oi.until FROM origin_images oi JOIN images i ON i.id = oi.image_id
         WHERE oi.origin_id = ANY($1::int[]) ORDER BY oi.since, oi.origin_id`,
        [origins.map((o) => o.id)],
      );
      const deployments = await many<DeploymentRow>(
        tx,
        'SELECT * FROM deployments WHERE digest = $1 ORDER BY current DESC, file, workload, container, first_seen',
        [digest],
      );
      const byId = new Map(origins.map((o) => [o.id, o]));
      return {
        image: image!,
        listed: row.listed,
        firstSeen: iso(row.first_seen),
        packages: packages.map(packageOf),
        findings: findings.map(findingView),
        origins: origins.map((o) => ({ ...originView(o), pointsHere: o.image_id === row.id && o.state !== 'gone' })),
        history: history.map((h) => ({
          origin: originReference(byId.get(h.origin_id)!),
          digest: h.digest,
          since: iso(h.since),
          ...(h.until !== null ? { until: iso(h.until) } : {}),
        })),
        deployments: deployments.map(deploymentView),
      };
    });
  }

  /** The fleet's counts and time to patch, as the overview page and /metrics show them. */
  async fleetSummary(): Promise<FleetSummary> {
    return this.read(async (tx) => {
      const [counts] = await tx.query<{ images: number; stale: number; errors: number }>(
        'SELECT count(*)::int AS images, count(*) FILTER (WHERE stale)::int AS stale, count(*) FILTER (WHERE error IS NOT NULL)::int AS errors FROM images WHERE listed',
      );
      const [packages] = await tx.query<{ packages: number; names: number }>(
        `SELECT count(*)::int AS packages, count(DISTINCT name)::int AS names FROM (
           SELECT DISTINCT p.name, p.version, p.architecture FROM packages p
           WHERE EXISTS (SELECT 1 FROM image_packages ip JOIN images i ON i.id = ip.image_id WHERE ip.package_id = p.id AND i.listed)) x`,
      );
      // An advisory that affects two packages of an image counts once, at its worst severity.
      const fixes = await tx.query<{ severity: string; n: number }>(
        `SELECT severity, count(*)::int AS n FROM (
           SELECT (array_agg(COALESCE(lower(f.severity), 'unknown') ORDER BY ${SEVERITY_RANK_SQL}))[1] AS severity
           FROM image_findings f JOIN images i ON i.id = f.image_id
           WHERE i.listed AND f.fix_available GROUP BY f.image_id, f.advisory) x
         GROUP BY severity ORDER BY severity`,
      );
      const bySeverity = Object.fromEntries(fixes.map((f) => [f.severity, f.n]));
      const timeline = await patchEvents(tx);
      const toImage = timeline.flatMap((e) => (e.secondsToImage === undefined ? [] : [e.secondsToImage])).sort((a, b) => a - b);
      const toDeploy = timeline.flatMap((e) => (e.secondsToDeploy === undefined ? [] : [e.secondsToDeploy])).sort((a, b) => a - b);
      const last = await lastRefresh(tx);
      return {
        images: counts!.images,
        staleImages: counts!.stale,
        imageErrors: counts!.errors,
        packages: packages!.packages,
        packageNames: packages!.names,
        openFixes: { total: fixes.reduce((n, f) => n + f.n, 0), bySeverity },
        timeToPatch: {
          resolved: toImage.length,
          ...(toImage.length > 0 ? { medianSeconds: percentile(toImage, 0.5), p95Seconds: percentile(toImage, 0.95) } : {}),
          deployed: toDeploy.length,
          ...(toDeploy.length > 0 ? { deployMedianSeconds: percentile(toDeploy, 0.5), deployP95Seconds: percentile(toDeploy, 0.95) } : {}),
        },
        ...(last ? { lastRefresh: last } : {}),
      };
    });
  }

  /** Every resolved finding of every origin's lineage, oldest fix first: the patch-timeline chart's data. */
  async patchTimeline(): Promise<PatchEvent[]> {
    return this.read(patchEvents);
  }

  /** Every source ever read, with its last good read and, when its last read failed, the error. */
  async sourceStatus(): Promise<SourceStatus[]> {
    return this.read(async (tx) => {
      const rows = await tx.query<{ key: string; last_good_read: Date | null; last_error: string | null; last_error_at: Date | null; stale: boolean }>(
        'SELECT * FROM sources ORDER BY key',
      );
      return rows.map((r) => ({
        source: r.key,
        ...(r.last_good_read ? { lastGoodRead: iso(r.last_good_read) } : {}),
        stale: r.stale,
        ...(r.last_error !== null ? { error: r.last_error, errorAt: iso(r.last_error_at) } : {}),
      }));
    });
  }

  /** The most recent refreshes, newest first (for /metrics: durations and error counts). */
  async refreshes(limit = 100): Promise<RefreshRecord[]> {
    return this.read(async (tx) => (await tx.query<RefreshRow>('SELECT * FROM refreshes ORDER BY id DESC LIMIT $1', [limit])).map(refreshOf));
  }

  private read<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return this.db.transaction(fn, { readOnly: true });
  }
}

interface RefreshRow {
  started_at: Date;
  finished_at: Date;
  duration_ms: number;
  images: number;
  source_errors: number;
  image_errors: number;
}
const refreshOf = (r: RefreshRow): RefreshRecord => ({
  startedAt: iso(r.started_at),
  finishedAt: iso(r.finished_at),
  durationMs: r.duration_ms,
  images: r.images,
  sourceErrors: r.source_errors,
  imageErrors: r.image_errors,
});

async function lastRefresh(tx: Sql): Promise<RefreshRecord | undefined> {
  const [row] = await tx.query<RefreshRow>('SELECT * FROM refreshes ORDER BY id DESC LIMIT 1');
  return row ? refreshOf(row) : undefined;
}

// ─── Reading ─────────────────────────────────────────────────────────────────

/** The images matching `where` (over `images i`) as the image list shows them. */
async function summaries(tx: Sql, where: string, params: unknown[] = []): Promise<ImageSummary[]> {
  const rows = await many<ImageRow>(tx, `SELECT i.* FROM images i WHERE ${where} ORDER BY i.name, i.digest`, params);
  const origins = await many<OriginRow>(
    tx,
    `SELECT o.* FROM origins o WHERE o.state <> 'gone' AND o.image_id = ANY($1::int[]) ORDER BY o.key`,
    [rows.map((r) => r.id)],
  );
  // Names of the images that specs and registries hold now, to tell a spec's image pushed to a registry.
  const names = await many<{ kind: string; name: string }>(
    tx,
    `SELECT DISTINCT o.kind, i.name FROM origins o JOIN images i ON i.id = o.image_id WHERE o.state <> 'gone'`,
  );
  const specNames = new Set(names.filter((n) => n.kind === 'spec').map((n) => n.name));
  const registryNames = new Set(names.filter((n) => n.kind === 'registry').map((n) => n.name));
  const byImage = groupBy(origins, (o) => o.image_id);
  return rows.map((r) => {
    const mine = byImage.get(r.id) ?? [];
    const spec = mine.some((o) => o.kind === 'spec');
    const registry = mine.some((o) => o.kind === 'registry');
    const both = (spec && registry) || (registry && specNames.has(r.name)) || (spec && registryNames.has(r.name));
    const goodReads = mine.filter((o) => o.state === 'stale' && o.last_good_read).map((o) => iso(o.last_good_read)).sort();
    return {
      digest: r.digest,
      name: r.name,
      platform: r.platform,
      origins: mine.map(originView),
      source: both ? 'both' : spec ? 'spec' : 'registry',
      inventory: r.inventory,
      ...(r.release !== null ? { release: r.release } : {}),
      packageCount: r.package_count,
      openFixes: r.open_fixes,
      stale: r.stale,
      ...(r.stale && goodReads.length > 0 ? { lastGoodRead: goodReads[0] } : {}),
      ...(r.error !== null ? { error: r.error } : {}),
    };
  });
}

/**
 * For search hits: an image's identity, its origins (current or stale) and where its digest runs now, looked up
 * once for all the images.
 */
type HitImage = Pick<ImageRow, 'id' | 'digest' | 'name' | 'platform' | 'stale'>;
const HIT_COLUMNS = 'i.id, i.digest, i.name, i.platform, i.stale';

async function around(tx: Sql, images: HitImage[]) {
  const ids = [...new Set(images.map((i) => i.id))];
  const digests = [...new Set(images.map((i) => i.digest))];
  const origins = await many<OriginRow>(tx, `SELECT * FROM origins WHERE image_id = ANY($1::int[]) AND state <> 'gone' ORDER BY key`, [ids]);
  const deployments = await many<DeploymentRow>(
    tx,
    'SELECT * FROM deployments WHERE digest = ANY($1::text[]) AND current ORDER BY file, workload, container',
    [digests],
  );
  const originsOf = groupBy(origins, (o) => o.image_id);
  const deploymentsOf = groupBy(deployments, (d) => d.digest);
  return (i: HitImage) => ({
    digest: i.digest,
    name: i.name,
    platform: i.platform,
    stale: i.stale,
    origins: (originsOf.get(i.id) ?? []).map(originView),
    deployments: (deploymentsOf.get(i.digest) ?? []).map(deploymentView),
  });
}

async function patchEvents(tx: Sql): Promise<PatchEvent[]> {
  const rows = await many<{
    advisory: string; packages: string; severity: string | null; first_seen: Date; fix_first_seen: Date | null; resolved_at: Date;
    digest: string; name: string; kind: 'spec' | 'registry'; registry: string | null; repository: string | null; tag: string | null;
    spec: string | null; deployed_at: Date | null;
  }>(
    tx,
    `SELECT l.advisory, l.packages, l.severity, l.first_seen, l.fix_first_seen, l.resolved_at, i.digest, i.name,
            o.kind, o.registry, o.repository, o.tag, o.spec,
            (SELECT min(d.first_seen) FROM deployments d WHERE d.digest = i.digest) AS deployed_at
     FROM lineage_findings l JOIN origins o ON o.id = l.origin_id JOIN images i ON i.id = l.resolved_image_id
     WHERE l.resolved_at IS NOT NULL ORDER BY l.resolved_at, l.advisory, o.key`,
  );
  return rows.map((r) => {
    const seconds = (to: Date | null) => (to && r.fix_first_seen ? Math.max(0, (new Date(to).getTime() - new Date(r.fix_first_seen).getTime()) / 1000) : undefined);
    const toImage = seconds(r.resolved_at);
    const toDeploy = seconds(r.deployed_at);
    return {
      id: r.advisory,
      origin: originReference(r),
      image: r.name,
      ...(r.severity !== null ? { severity: r.severity } : {}),
      packages: r.packages.split(' '),
      firstSeen: iso(r.first_seen),
      ...(r.fix_first_seen ? { fixAvailableAt: iso(r.fix_first_seen) } : {}),
      fixedAt: iso(r.resolved_at),
      fixedDigest: r.digest,
      ...(r.deployed_at ? { deployedAt: iso(r.deployed_at) } : {}),
      ...(toImage !== undefined ? { secondsToImage: toImage } : {}),
      ...(toDeploy !== undefined ? { secondsToDeploy: toDeploy } : {}),
    };
  });
}

// ─── Writing one refresh ─────────────────────────────────────────────────────

/**
 * Inserts the digests the store has not seen, with their packages; a known digest is left alone (its packages
 * cannot change) unless its package list failed before or came from another inventory. Returns digest → id.
 */
async function recordImages(tx: Sql, snapshot: FleetSnapshot, at: Date) {
  const digests = snapshot.images.map((i) => i.digest);
  const known = new Map(
    (await many<ImageRow>(tx, 'SELECT * FROM images WHERE digest = ANY($1::text[])', [digests])).map((r) => [r.digest, r]),
  );
  const fresh: FleetImage[] = [];
  const relink: FleetImage[] = [];
  for (const image of snapshot.images) {
    const row = known.get(image.digest);
    if (!row) {
      fresh.push(image);
      continue;
    }
    // A digest's content never changes: when its layers cannot be read this time, what an earlier read found
    // stays (packages, inventory), and only the error is new.
    const keep = image.error !== undefined && row.error === null;
    const inventory = keep ? row.inventory : image.inventory;
    const count = keep ? row.package_count : image.packages.length;
    const release = keep ? row.release : (image.release ?? null);
    if (image.error === undefined && (row.error !== null || row.inventory !== image.inventory || row.package_count !== image.packages.length)) {
      relink.push(image);
    }
    if (row.name !== image.name || row.platform !== image.platform || row.inventory !== inventory ||
        row.release !== release || row.error !== (image.error ?? null) || row.package_count !== count) {
      await tx.query(
        'UPDATE images SET name = $2, platform = $3, inventory = $4, release = $5, error = $6, package_count = $7 WHERE id = $1',
        [row.id, image.name, image.platform, inventory, release, image.error ?? null, count],
      );
    }
  }
  const ids = new Map<string, number>([...known].map(([digest, row]) => [digest, row.id]));
  for (const batch of chunks(fresh, 5_000)) {
    const rows = await tx.query<{ id: number; digest: string }>(
      `INSERT INTO images (digest, name, platform, inventory, release, error, package_count, first_seen, listed)
       SELECT d, n, pl, inv, r, e, c, $8, true FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[])
         AS u(d, n, pl, inv, r, e, c)
       RETURNING id, digest`,
      [
        batch.map((i) => i.digest), batch.map((i) => i.name), batch.map((i) => i.platform), batch.map((i) => i.inventory),
        batch.map((i) => i.release ?? null), batch.map((i) => i.error ?? null), batch.map((i) => i.packages.length), at,
      ],
    );
    for (const r of rows) ids.set(r.digest, r.id);
  }
  if (relink.length > 0) {
    await tx.query('DELETE FROM image_packages WHERE image_id = ANY($1::int[])', [relink.map((i) => ids.get(i.digest)!)]);
  }
  const toLink = [...fresh, ...relink];
  const packageIds = await packageIdsOf(tx, toLink.flatMap((i) => i.packages));
  let links = 0;
  const pairs: Array<[number, number]> = [];
  for (const image of toLink) {
    const id = ids.get(image.digest)!;
    for (const p of image.packages) pairs.push([id, packageIds.get(packageKey(p))!]);
  }
  for (const batch of chunks(pairs)) {
    await tx.query(
      'INSERT INTO image_packages (image_id, package_id) SELECT * FROM unnest($1::int[], $2::int[]) ON CONFLICT DO NOTHING',
      [batch.map((p) => p[0]), batch.map((p) => p[1])],
    );
    links += batch.length;
  }
  const findingsHashes = new Map([...known].map(([digest, row]) => [digest, row.findings_hash]));
  return { ids, findingsHashes, inserted: fresh.length, relinked: relink.length, links };
}

const packageKey = (p: FleetPackage) => JSON.stringify([p.name, p.version, p.architecture, p.source, p.sourceVersion]);

/** The ids of these packages, inserting the ones the store lacks. */
async function packageIdsOf(tx: Sql, packages: FleetPackage[]): Promise<Map<string, number>> {
  const distinct = new Map<string, FleetPackage>();
  for (const p of packages) distinct.set(packageKey(p), p);
  const ids = new Map<string, number>();
  for (const batch of chunks([...distinct.values()])) {
    const columns = [batch.map((p) => p.name), batch.map((p) => p.version), batch.map((p) => p.architecture), batch.map((p) => p.source), batch.map((p) => p.sourceVersion)];
    await tx.query(
      `INSERT INTO packages (name, version, architecture, source, source_version)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) ON CONFLICT DO NOTHING`,
      columns,
    );
    const rows = await many<{ id: number; name: string; version: string; architecture: string; source: string; source_version: string }>(
      tx,
      `SELECT p.id, ${PACKAGE_COLUMNS} FROM packages p
       JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u(n, v, a, s, sv)
         ON p.name = u.n AND p.version = u.v AND p.architecture = u.a AND p.source = u.s AND p.source_version = u.sv`,
      columns,
    );
    for (const r of rows) ids.set(packageKey(packageOf(r)), r.id);
  }
  return ids;
}

/**
 * Points each origin of the snapshot at its image (a move closes the old digest's history row and opens one);
 * an origin the snapshot lacks is stale when its source failed, else gone.
 */
async function recordOrigins(tx: Sql, snapshot: FleetSnapshot, ids: Map<string, number>, at: Date, isFailed: (kind: 'registry' | 'spec', path: string) => boolean) {
  const rows = await many<OriginRow>(tx, 'SELECT * FROM origins');
  const byKey = new Map(rows.map((o) => [o.key, o]));
  const seen = new Set<string>();
  /** Origins whose lineage must be looked at: new, moved, or back from stale or gone. */
  const touched = new Set<number>();
  let moved = 0;
  const opened: Array<[number, number]> = [];
  const closed: number[] = [];
  const fresh: Array<{ key: string; origin: ImageOrigin; imageId: number }> = [];
  for (const image of snapshot.images) {
    const imageId = ids.get(image.digest)!;
    for (const origin of image.origins) {
      const key = originKey(origin);
      if (seen.has(key)) {
        throw new PithError('SERVE_SNAPSHOT_INVALID', `the snapshot of ${snapshot.takenAt} puts ${originReference(origin)} at two images (one is ${image.digest}); an origin points at one image`);
      }
      seen.add(key);
      const lock = origin.kind === 'spec' ? origin.lock : null;
      const specName = origin.kind === 'spec' ? origin.name : null;
      const row = byKey.get(key);
      if (!row) {
        fresh.push({ key, origin, imageId });
        continue;
      }
      const movedHere = row.image_id !== imageId;
      if (movedHere) {
        moved++;
        closed.push(row.id);
        opened.push([row.id, imageId]);
      } else if (row.state === 'gone') {
        // Back after it was gone: a new stretch of history at the same digest.
        opened.push([row.id, imageId]);
      }
      if (movedHere || row.state !== 'current' || row.lock !== lock || row.spec_name !== specName) {
        if (movedHere || row.state !== 'current') touched.add(row.id);
        await tx.query("UPDATE origins SET image_id = $2, state = 'current', lock = $3, spec_name = $4 WHERE id = $1", [row.id, imageId, lock, specName]);
        Object.assign(row, { image_id: imageId, state: 'current', lock, spec_name: specName });
      }
    }
  }
  for (const batch of chunks(fresh)) {
    const field = (f: (o: Extract<ImageOrigin, { kind: 'registry' }>) => string, g: (o: Extract<ImageOrigin, { kind: 'spec' }>) => string) =>
      batch.map(({ origin: o }) => (o.kind === 'registry' ? f(o) : g(o)) || null);
    const inserted = await tx.query<OriginRow>(
      `INSERT INTO origins (key, kind, registry, repository, tag, spec, lock, spec_name, source, image_id, state)
       SELECT k, kd, r, rp, t, sp, l, n, src, i, 'current'
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int[])
         AS u(k, kd, r, rp, t, sp, l, n, src, i)
       RETURNING *`,
      [
        batch.map((f) => f.key), batch.map((f) => f.origin.kind),
        field((o) => o.registry, () => ''), field((o) => o.repository, () => ''), field((o) => o.tag, () => ''),
        field(() => '', (o) => o.spec), field(() => '', (o) => o.lock), field(() => '', (o) => o.name),
        batch.map((f) => originSource(f.origin)), batch.map((f) => f.imageId),
      ],
    );
    for (const row of inserted) {
      rows.push(row);
      touched.add(row.id);
      opened.push([row.id, row.image_id]);
    }
  }
  const stale: number[] = [];
  const gone: number[] = [];
  for (const row of rows) {
    if (seen.has(row.key) || row.state === 'gone') continue;
    if (isFailed(row.kind, originPath(row))) {
      if (row.state !== 'stale') stale.push(row.id);
      row.state = 'stale';
    } else {
      gone.push(row.id);
      row.state = 'gone';
    }
  }
  if (stale.length > 0) {
    // It was current until now, so the last refresh recorded is the last one that read it.
    await tx.query("UPDATE origins SET state = 'stale', last_good_read = (SELECT max(started_at) FROM refreshes) WHERE id = ANY($1::int[])", [stale]);
  }
  if (gone.length > 0) await tx.query("UPDATE origins SET state = 'gone' WHERE id = ANY($1::int[])", [gone]);
  const ending = [...closed, ...gone];
  if (ending.length > 0) await tx.query('UPDATE origin_images SET until = $2 WHERE origin_id = ANY($1::int[]) AND until IS NULL', [ending, at]);
  for (const batch of chunks(opened)) {
    await tx.query(
      'INSERT INTO origin_images (origin_id, image_id, since) SELECT o, i, $3 FROM unnest($1::int[], $2::int[]) AS u(o, i)',
      [batch.map((p) => p[0]), batch.map((p) => p[1]), at],
    );
  }
  return { rows, moved, touched };
}

/** What a refresh found on one image, as one hash: equal hashes, nothing to compare finding by finding. */
function findingsHash(findings: FleetFinding[]): string {
  const rows = findings.map((f) => JSON.stringify([f.id, f.package, f.installed, f.source, f.fixed ?? null, f.fixAvailable, f.severity ?? null])).sort();
  return createHash('sha256').update(rows.join('\n')).digest('hex');
}

/**
 * Brings the findings of the snapshot's images to what this refresh found, keeping each one's first-seen time.
 * Only images whose findings hash changed are compared. Returns the ids of those images.
 */
async function recordImageFindings(tx: Sql, findings: FleetFinding[], ids: Map<string, number>, hashes: Map<string, string | null>, unreadable: Set<string>, at: Date): Promise<Set<number>> {
  const byDigest = groupBy(findings, (f) => f.digest);
  const changed = new Map<number, { digest: string; hash: string; openFixes: number }>();
  for (const [digest, id] of ids) {
    // An image read with an error was not evaluated: its findings stay as the last good read left them.
    if (unreadable.has(digest)) continue;
    const mine = byDigest.get(digest) ?? [];
    const hash = findingsHash(mine);
    if (hashes.get(digest) !== hash) {
      changed.set(id, { digest, hash, openFixes: new Set(mine.filter((f) => f.fixAvailable).map((f) => f.id)).size });
    }
  }
  if (changed.size === 0) return new Set();
  const existing = await many<FindingRow>(tx, 'SELECT * FROM image_findings WHERE image_id = ANY($1::int[])', [[...changed.keys()]]);
  const old = new Map(existing.map((f) => [`${f.image_id}\u0000${findingKey(f.advisory, f.package)}`, f]));
  const insert: FleetFinding[] = [];
  const update: FleetFinding[] = [];
  const keep = new Set<string>();
  for (const { digest } of changed.values()) {
    for (const f of byDigest.get(digest) ?? []) {
      const key = `${ids.get(f.digest)}\u0000${findingKey(f.id, f.package)}`;
      if (keep.has(key)) continue;
      keep.add(key);
      const row = old.get(key);
      if (!row) insert.push(f);
      else if (row.installed !== f.installed || row.source !== f.source || row.fixed !== (f.fixed ?? null) ||
        row.fix_available !== f.fixAvailable || row.severity !== (f.severity ?? null)) update.push(f);
    }
  }
  const gone = existing.filter((f) => !keep.has(`${f.image_id}\u0000${findingKey(f.advisory, f.package)}`));
  const columns = (list: FleetFinding[]) => [
    list.map((f) => ids.get(f.digest)!), list.map((f) => f.id), list.map((f) => f.package), list.map((f) => f.installed),
    list.map((f) => f.source), list.map((f) => f.fixed ?? null), list.map((f) => f.fixAvailable), list.map((f) => f.severity ?? null), at,
  ];
  const UNNEST = 'unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::text[]) AS u(image_id, advisory, package, installed, source, fixed, fix_available, severity)';
  for (const batch of chunks(insert)) {
    await tx.query(
      `INSERT INTO image_findings (image_id, advisory, package, installed, source, fixed, fix_available, severity, first_seen, fix_first_seen)
       SELECT u.*, $9, CASE WHEN u.fix_available THEN $9::timestamptz END FROM ${UNNEST}`,
      columns(batch),
    );
  }
  for (const batch of chunks(update)) {
    await tx.query(
      `UPDATE image_findings f SET installed = u.installed, source = u.source, fixed = u.fixed, fix_available = u.fix_available,
         severity = u.severity, fix_first_seen = COALESCE(f.fix_first_seen, CASE WHEN u.fix_available THEN $9::timestamptz END)
       FROM ${UNNEST} WHERE f.image_id = u.image_id AND f.advisory = u.advisory AND f.package = u.package`,
      columns(batch),
    );
  }
  for (const batch of chunks(gone)) {
    await tx.query(
      'DELETE FROM image_findings f USING unnest($1::int[], $2::text[], $3::text[]) AS u(i, a, p) WHERE f.image_id = u.i AND f.advisory = u.a AND f.package = u.p',
      [batch.map((f) => f.image_id), batch.map((f) => f.advisory), batch.map((f) => f.package)],
    );
  }
  for (const batch of chunks([...changed])) {
    await tx.query(
      'UPDATE images i SET findings_hash = u.h, open_fixes = u.n FROM unnest($1::int[], $2::text[], $3::int[]) AS u(id, h, n) WHERE i.id = u.id',
      [batch.map(([id]) => id), batch.map(([, c]) => c.hash), batch.map(([, c]) => c.openFixes)],
    );
  }
  return new Set(changed.keys());
}

/**
 * Follows the origins seen now that are new, moved or whose image's findings changed (the others' lineage cannot
 * have changed): an advisory its image has opens a lineage finding (if none is open), one it no longer has
 * resolves the open one at this refresh, naming the image without it. Returns how many were resolved.
 */
async function recordLineage(tx: Sql, findings: FleetFinding[], ids: Map<string, number>, current: OriginRow[], at: Date): Promise<number> {
  if (current.length === 0) return 0;
  const advisories = new Map<string, Map<string, { fix: boolean; severity?: string; packages: Set<string> }>>();
  for (const f of findings) {
    const of = advisories.get(f.digest) ?? new Map();
    advisories.set(f.digest, of);
    const a = of.get(f.id) ?? { fix: false, packages: new Set<string>() };
    a.fix ||= f.fixAvailable;
    a.severity = worse(a.severity, f.severity);
    a.packages.add(f.package);
    of.set(f.id, a);
  }
  const digestOf = new Map([...ids].map(([digest, id]) => [id, digest]));
  const open = await many<{ id: number; origin_id: number; advisory: string; fix_first_seen: Date | null }>(
    tx,
    'SELECT id, origin_id, advisory, fix_first_seen FROM lineage_findings WHERE resolved_at IS NULL AND origin_id = ANY($1::int[])',
    [current.map((o) => o.id)],
  );
  const openBy = new Map(open.map((l) => [`${l.origin_id}\u0000${l.advisory}`, l]));
  const resolve: Array<[number, number]> = [];
  const fixNow: number[] = [];
  const insert: Array<{ origin: number; advisory: string; packages: string; severity: string | null; fix: boolean }> = [];
  for (const o of current) {
    const has = advisories.get(digestOf.get(o.image_id)!) ?? new Map();
    for (const [advisory, a] of has) {
      const row = openBy.get(`${o.id}\u0000${advisory}`);
      if (!row) insert.push({ origin: o.id, advisory, packages: [...a.packages].sort().join(' '), severity: a.severity ?? null, fix: a.fix });
      else if (a.fix && row.fix_first_seen === null) fixNow.push(row.id);
    }
  }
  const currentById = new Map(current.map((o) => [o.id, o]));
  for (const l of open) {
    const o = currentById.get(l.origin_id)!;
    if (!(advisories.get(digestOf.get(o.image_id)!)?.has(l.advisory))) resolve.push([l.id, o.image_id]);
  }
  if (resolve.length > 0) {
    await tx.query(
      // Fixed when the origin first pointed at the digest without it (pushed), which may be before this refresh could
      // read that digest; a digest that had the finding and lost it (the advisory changed) is fixed now.
      `UPDATE lineage_findings l SET resolved_image_id = u.i, resolved_at = COALESCE(
         (SELECT oi.since FROM origin_images oi WHERE oi.origin_id = l.origin_id AND oi.until IS NULL AND oi.since > l.first_seen), $3)
       FROM unnest($1::bigint[], $2::int[]) AS u(id, i) WHERE l.id = u.id`,
      [resolve.map((r) => r[0]), resolve.map((r) => r[1]), at],
    );
  }
  if (fixNow.length > 0) await tx.query('UPDATE lineage_findings SET fix_first_seen = $2 WHERE id = ANY($1::bigint[])', [fixNow, at]);
  for (const batch of chunks(insert)) {
    await tx.query(
      `INSERT INTO lineage_findings (origin_id, advisory, packages, severity, first_seen, fix_first_seen)
       SELECT o, a, p, s, $6, CASE WHEN f THEN $6::timestamptz END FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::bool[]) AS u(o, a, p, s, f)`,
      [batch.map((r) => r.origin), batch.map((r) => r.advisory), batch.map((r) => r.packages), batch.map((r) => r.severity), batch.map((r) => r.fix), at],
    );
  }
  return resolve.length;
}

/** Marks the snapshot's deployments current (new ones first seen now); the others stale if their manifests failed, else ended. */
async function recordDeployments(tx: Sql, deployments: Deployment[], at: Date, isFailed: (file: string) => boolean): Promise<void> {
  const current = await many<DeploymentRow>(tx, 'SELECT * FROM deployments WHERE current');
  const byKey = new Map(current.map((d) => [deploymentKey(d), d]));
  const seen = new Map<string, Deployment>();
  for (const d of deployments) seen.set(deploymentKey(d), d);
  const fresh = [...seen].filter(([key]) => !byKey.has(key)).map(([, d]) => d);
  const unstale = current.filter((d) => d.stale && seen.has(deploymentKey(d))).map((d) => d.id);
  const missing = current.filter((d) => !seen.has(deploymentKey(d)));
  const stale = missing.filter((d) => isFailed(d.file));
  const ended = missing.filter((d) => !isFailed(d.file)).map((d) => d.id);
  if (fresh.length > 0) {
    // A workload back at a digest it ran before reuses that row: its first_seen is when that digest first ran.
    await tx.query(
      `INSERT INTO deployments (file, workload, container, reference, digest, first_seen, current)
       SELECT f, w, c, r, d, $6, true FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u(f, w, c, r, d)
       ON CONFLICT (file, workload, container, reference, digest) DO UPDATE SET current = true, stale = false, until = NULL`,
      [fresh.map((d) => d.file), fresh.map((d) => d.workload), fresh.map((d) => d.container ?? ''), fresh.map((d) => d.reference), fresh.map((d) => d.digest ?? ''), at],
    );
  }
  if (unstale.length > 0) await tx.query('UPDATE deployments SET stale = false WHERE id = ANY($1::int[])', [unstale]);
  const newlyStale = stale.filter((d) => !d.stale).map((d) => d.id);
  if (newlyStale.length > 0) await tx.query('UPDATE deployments SET stale = true WHERE id = ANY($1::int[])', [newlyStale]);
  if (ended.length > 0) await tx.query('UPDATE deployments SET current = false, stale = false, until = $2 WHERE id = ANY($1::int[])', [ended, at]);
}
