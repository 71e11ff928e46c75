import { PithError } from '../errors.ts';
import { parseDeb822 } from './deb822.ts';

export type MultiArch = 'no' | 'same' | 'foreign' | 'allowed';

/** Where a package index came from: one component/architecture of one suite of one source. */
export interface IndexOrigin {
  uri: string;
  /** The suite as configured (e.g. `bookworm-security`). */
  suite: string;
  /** The verified Release `Codename`/`Suite`/`Label`/`Origin` fields, when known. */
  codename?: string;
  label?: string;
  origin?: string;
  component: string;
  architecture: string;
}

/**
 * One binary package stanza of a Packages index. Relation fields stay raw strings: the resolver parses only
 * those of the packages it visits, which keeps loading a 64k-stanza index cheap.
 */
export interface BinaryPackage {
  name: string;
  version: string;
  /** `all` or a Debian architecture. */
  architecture: string;
  /** Source package name (the `Source:` field without its version, or the binary name). */
  source: string;
  /** Source version (from `Source: name (version)`, or the binary version). */
  sourceVersion: string;
  multiArch: MultiArch;
  essential: boolean;
  priority: string;
  depends?: string;
  preDepends?: string;
  provides?: string;
  conflicts?: string;
  breaks?: string;
  replaces?: string;
  /**
   * Never followed (pith resolves with recommends off), but apt numbers packages in the order it first meets their
   * names — Recommends, Suggests and Enhances included — and breaks provider ties by that number.
   */
  recommends?: string;
  suggests?: string;
  enhances?: string;
  /** `Important: yes` or `Protected: yes`: apt's Flag::Important, which CompareProviders prefers. */
  important: boolean;
  /** Path of the .deb relative to the source URI. */
  filename: string;
  size: number;
  sha256: string;
  maintainer?: string;
  origin: IndexOrigin;
}

/*
 * Views of the one package record: each stage that keeps or passes on fewer fields names the part it needs, so a
 * field means the same everywhere and a copy of it is made in one place (the functions below).
 */
/** Which package: one version of one binary package for one architecture. */
export type PackageId = Pick<BinaryPackage, 'name' | 'version' | 'architecture'>;
/** What it was built from; advisories name source packages at source versions. */
export type PackageSource = Pick<BinaryPackage, 'source' | 'sourceVersion'>;
/** The `.deb` as the archive describes it. */
export type DebFile = Pick<BinaryPackage, 'filename' | 'size' | 'sha256'>;
/** How images, SBOMs and advisory matches name a package. */
export type SourcedPackage = PackageId & PackageSource;
/** A package down to the exact `.deb`: what a resolution answers and a lock pins. */
export type PinnedPackage = SourcedPackage & DebFile;

export function sourcedPackage(p: SourcedPackage): SourcedPackage {
  return { name: p.name, version: p.version, architecture: p.architecture, source: p.source, sourceVersion: p.sourceVersion };
}

export function pinnedPackage(p: PinnedPackage): PinnedPackage {
  return { ...sourcedPackage(p), filename: p.filename, size: p.size, sha256: p.sha256 };
}

/**
 * A binary package's `Source:` field, "name" or "name (version)"; absent or empty, the binary's own name and
 * version (as dpkg derives them).
 */
export function parseSourceField(field: string | undefined, name: string, version: string): PackageSource {
  const text = field?.trim();
  if (!text) return { source: name, sourceVersion: version };
  const open = text.indexOf('(');
  if (open === -1) return { source: text, sourceVersion: version };
  const close = text.indexOf(')', open);
  return { source: text.slice(0, open).trim(), sourceVersion: text.slice(open + 1, close === -1 ? undefined : close).trim() || version };
}

/** The fields a BinaryPackage is made of; an index's others (descriptions, checksums pith does not use…) go unread. */
const INDEX_FIELDS: ReadonlySet<string> = new Set([
  'package', 'version', 'architecture', 'source', 'multi-arch', 'essential', 'priority', 'depends', 'pre-depends', 'provides',
  'conflicts', 'breaks', 'replaces', 'recommends', 'suggests', 'enhances', 'important', 'protected', 'filename', 'size',
  'sha256', 'maintainer',
]);

/** Turns a Packages index into records. `where` names the index in errors (URL or cache path). */
export function parsePackagesIndex(text: string, origin: IndexOrigin, where: string): BinaryPackage[] {
  const stanzas = parseDeb822(text, { source: where, only: INDEX_FIELDS });
  const out: BinaryPackage[] = new Array(stanzas.length);
  let n = 0;
  for (const { fields: f, line } of stanzas) {
    const name = f['package'];
    const version = f['version'];
    const architecture = f['architecture'];
    const filename = f['filename'];
    const sha256 = f['sha256'];
    const sizeText = f['size'];
    if (!name || !version || !architecture || !filename || !sha256 || !sizeText) {
      const missing = ['Package', 'Version', 'Architecture', 'Filename', 'Size', 'SHA256'].filter(
        (k) => !f[k.toLowerCase()],
      );
      throw new PithError(
        'INDEX_MALFORMED',
        `${where}:${line}: package stanza${name ? ` "${name}"` : ''} lacks required field(s) ${missing.join(', ')}`,
      );
    }
    const { source, sourceVersion } = parseSourceField(f['source'], name, version);
    const ma = f['multi-arch'];
    out[n++] = {
      name,
      version,
      architecture,
      source,
      sourceVersion,
      multiArch: ma === 'same' || ma === 'foreign' || ma === 'allowed' ? ma : 'no',
      essential: f['essential'] === 'yes',
      priority: f['priority'] ?? 'optional',
      depends: f['depends'],
      preDepends: f['pre-depends'],
      provides: f['provides'],
      conflicts: f['conflicts'],
      breaks: f['breaks'],
      replaces: f['replaces'],
      recommends: f['recommends'],
      suggests: f['suggests'],
      enhances: f['enhances'],
      important: f['important'] === 'yes' || f['protected'] === 'yes',
      filename,
      size: Number(sizeText),
      sha256,
      maintainer: f['maintainer'],
      origin,
    };
  }
  out.length = n;
  return out;
}

/**
 * Compact row form of a parsed index, for the on-disk cache: JSON arrays parse several times faster than
 * re-reading a 50 MB deb822 index, which is what makes a warm open cheap. Bump the format name when the
 * record changes so stale caches are simply not found. (V8's own serialization of the same rows was measured as
 * an alternative, issue 14: it loads no faster once the entry is hashed and the records are built, so JSON stays.)
 */
export const PACKAGE_ROWS_FORMAT = 'packages-rows-v2';

type Row = [string, string, string, string, string, MultiArch, 0 | 1, string, ...(string | null)[]];

export function packagesToRows(packages: BinaryPackage[]): string {
  const rows = packages.map((p) => [
    p.name, p.version, p.architecture, p.source, p.sourceVersion, p.multiArch, p.essential ? 1 : 0, p.priority,
    p.depends ?? null, p.preDepends ?? null, p.provides ?? null, p.conflicts ?? null, p.breaks ?? null, p.replaces ?? null,
    p.filename, String(p.size), p.sha256, p.maintainer ?? null,
    p.recommends ?? null, p.suggests ?? null, p.enhances ?? null, p.important ? '1' : null,
  ]);
  return JSON.stringify({ format: PACKAGE_ROWS_FORMAT, rows });
}

const ROW_FIELDS = 22;

/**
 * The packages of a cache entry, or null when it is not one this pith wrote: the caller then parses the index again,
 * so an entry from an older pith or a stray blob is a miss, never an error.
 */
export function packagesFromRows(json: string, origin: IndexOrigin): BinaryPackage[] | null {
  let value: { format?: unknown; rows?: unknown };
  try {
    value = JSON.parse(json) as typeof value;
  } catch {
    return null;
  }
  if (value?.format !== PACKAGE_ROWS_FORMAT || !Array.isArray(value.rows)) return null;
  const rows = value.rows as Row[];
  if (!rows.every((r) => Array.isArray(r) && r.length === ROW_FIELDS)) return null;
  const opt = (v: string | null | undefined) => (v === null ? undefined : v);
  return rows.map((r) => ({
    name: r[0], version: r[1], architecture: r[2], source: r[3], sourceVersion: r[4], multiArch: r[5], essential: r[6] === 1, priority: r[7],
    depends: opt(r[8]), preDepends: opt(r[9]), provides: opt(r[10]), conflicts: opt(r[11]), breaks: opt(r[12]), replaces: opt(r[13]),
    filename: r[14]!, size: Number(r[15]), sha256: r[16]!, maintainer: opt(r[17]),
    recommends: opt(r[18]), suggests: opt(r[19]), enhances: opt(r[20]), important: r[21] === '1',
    origin,
  }));
}
