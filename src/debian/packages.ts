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
    let source = name;
    let sourceVersion = version;
    const src = f['source'];
    if (src !== undefined) {
      const paren = src.indexOf('(');
      if (paren === -1) source = src.trim();
      else {
        source = src.slice(0, paren).trim();
        sourceVersion = src.slice(paren + 1, src.indexOf(')', paren)).trim();
      }
    }
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
 * record changes so stale caches are simply not found.
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

export function packagesFromRows(json: string, origin: IndexOrigin): BinaryPackage[] | null {
  const value = JSON.parse(json) as { format?: string; rows?: Row[] };
  if (value.format !== PACKAGE_ROWS_FORMAT || !Array.isArray(value.rows)) return null;
  const opt = (v: string | null | undefined) => (v === null ? undefined : v);
  return value.rows.map((r) => ({
    name: r[0], version: r[1], architecture: r[2], source: r[3], sourceVersion: r[4], multiArch: r[5], essential: r[6] === 1, priority: r[7],
    depends: opt(r[8]), preDepends: opt(r[9]), provides: opt(r[10]), conflicts: opt(r[11]), breaks: opt(r[12]), replaces: opt(r[13]),
    filename: r[14]!, size: Number(r[15]), sha256: r[16]!, maintainer: opt(r[17]),
    recommends: opt(r[18]), suggests: opt(r[19]), enhances: opt(r[20]), important: r[21] === '1',
    origin,
  }));
}
