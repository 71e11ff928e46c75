/**
 * The Debian packages installed in an image, read from the image alone — so an SBOM can be made for any pith image
 * (or any Debian image) without its lock: the distroless layout pith writes (`/var/lib/dpkg/status.d/<package>`
 * with `<package>.md5sums`), or dpkg's own `/var/lib/dpkg/status`; each `.deb`'s SHA256 from
 * `/var/lib/dpkg/available`; each package's paths from `/var/lib/dpkg/info/<package>.list` (md5sums otherwise);
 * the OS from `/etc/os-release` and `/etc/debian_version`.
 */
import { parseDeb822 } from '../debian/deb822.ts';
import { parseSourceField, type BinaryPackage, type DebFile, type SourcedPackage } from '../debian/packages.ts';
import { parseRelations, type Relation } from '../debian/relations.ts';
import { satisfiesVersion } from '../debian/version.ts';
import { PithError } from '../errors.ts';
import { AVAILABLE, INFO_D as INFO, STATUS_D } from './status.ts';
import type { Rootfs } from '../oci/rootfs.ts';
import { compareStrings } from '../order.ts';

/** dpkg's own database, which Debian images (not pith's) have. */
export const STATUS = '/var/lib/dpkg/status';

export interface InstalledPackage extends SourcedPackage, Pick<BinaryPackage, 'maintainer'> {
  /** The first line of Description. */
  summary?: string;
  homepage?: string;
  /** Pre-Depends and Depends, parsed. */
  depends: Relation[][];
  provides: string[];
  /** The `.deb` as the archive described it, from /var/lib/dpkg/available. */
  deb?: DebFile;
  /** The package's paths in the image (from info/<name>.list, else md5sums). */
  files: string[];
  /** Where the stanza was read, e.g. /var/lib/dpkg/status.d/libc6. */
  statusFile: string;
}

export interface OsRelease {
  /** os-release ID, e.g. "debian". */
  id?: string;
  /** os-release VERSION_ID, e.g. "12". */
  versionId?: string;
  versionCodename?: string;
  prettyName?: string;
  /** The first line of /etc/debian_version, e.g. "12.11". */
  debianVersion?: string;
}

/** Parses os-release(5): KEY=value lines, values optionally quoted with shell-style escapes. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2]!.trim();
    const q = v[0];
    if ((q === '"' || q === "'") && v.endsWith(q) && v.length >= 2) v = v.slice(1, -1).replace(/\\(["'$`\\])/g, '$1');
    out[m[1]!] = v;
  }
  return out;
}

export function readOsRelease(fs: Rootfs): OsRelease {
  const text = fs.readText('/etc/os-release') ?? fs.readText('/usr/lib/os-release');
  const values = text === undefined ? {} : parseOsRelease(text);
  const debianVersion = fs.readText('/etc/debian_version')?.split('\n')[0]?.trim();
  return {
    ...(values.ID ? { id: values.ID } : {}),
    ...(values.VERSION_ID ? { versionId: values.VERSION_ID } : {}),
    ...(values.VERSION_CODENAME ? { versionCodename: values.VERSION_CODENAME } : {}),
    ...(values.PRETTY_NAME ? { prettyName: values.PRETTY_NAME } : {}),
    ...(debianVersion ? { debianVersion } : {}),
  };
}

/** Every installed package, sorted by name (then architecture). */
export function readPackages(fs: Rootfs): InstalledPackage[] {
  const stanzas: Array<{ fields: Record<string, string>; file: string }> = [];
  const statusText = fs.readText(STATUS);
  if (statusText !== undefined) {
    for (const s of parse(statusText, STATUS)) {
      // dpkg keeps removed-but-not-purged packages in its database; only installed ones are in the image.
      const status = (s.fields['status'] ?? '').split(/\s+/);
      if (status[2] === 'installed' || status[2] === 'half-configured' || status[2] === 'unpacked') stanzas.push({ fields: s.fields, file: STATUS });
    }
  }
  for (const file of fs.list(STATUS_D)) {
    if (file.endsWith('.md5sums')) continue;
    const text = fs.readText(file);
    if (text === undefined) continue;
    for (const s of parse(text, file)) stanzas.push({ fields: s.fields, file });
  }
  const debs = readAvailable(fs);
  const out: InstalledPackage[] = [];
  for (const { fields: f, file } of stanzas) {
    const name = f['package'];
    const version = f['version'];
    if (!name || !version) {
      throw new PithError('SBOM_BAD_STATUS', `expected Package and Version fields in ${file}, found ${name ? `Package: ${name} without a Version` : 'no Package'}`);
    }
    const architecture = f['architecture'] ?? '';
    const { source, sourceVersion } = parseSourceField(f['source'], name, version);
    const where = `${file}: ${name}`;
    const rel = (field: string) => (f[field] ? parseRelations(f[field]!, `${where} ${field}`) : []);
    out.push({
      name,
      version,
      architecture,
      source,
      sourceVersion,
      ...(f['maintainer'] ? { maintainer: f['maintainer'] } : {}),
      ...(f['description'] ? { summary: f['description'].split('\n')[0]!.trim() } : {}),
      ...(f['homepage'] ? { homepage: f['homepage'] } : {}),
      depends: [...rel('pre-depends'), ...rel('depends')],
      provides: rel('provides').flat().map((r) => r.name),
      ...(debs.has(`${name}@${version}`) ? { deb: debs.get(`${name}@${version}`)! } : {}),
      files: packageFiles(fs, name, architecture, file),
      statusFile: file,
    });
  }
  out.sort((a, b) => compareStrings(a.name, b.name) || compareStrings(a.architecture, b.architecture));
  return out;
}

function parse(text: string, file: string) {
  try {
    return parseDeb822(text, { source: file });
  } catch (e) {
    throw new PithError('SBOM_BAD_STATUS', `expected dpkg status stanzas in ${file}: ${(e as Error).message}`, { cause: e });
  }
}

function readAvailable(fs: Rootfs): Map<string, DebFile> {
  const out = new Map<string, DebFile>();
  const text = fs.readText(AVAILABLE);
  if (text === undefined) return out;
  for (const s of parse(text, AVAILABLE)) {
    const f = s.fields;
    if (f['package'] && f['version'] && /^[0-9a-f]{64}$/.test(f['sha256'] ?? '')) {
      out.set(`${f['package']}@${f['version']}`, { filename: f['filename'] ?? '', size: Number(f['size'] ?? 0), sha256: f['sha256']! });
    }
  }
  return out;
}

/** info/<name>.list (or <name>:<arch>.list), else the md5sums beside the stanza or in info/; paths that exist. */
function packageFiles(fs: Rootfs, name: string, arch: string, statusFile: string): string[] {
  const keys = arch && arch !== 'all' ? [`${name}:${arch}`, name] : [name];
  for (const key of keys) {
    const list = fs.readText(`${INFO}/${key}.list`);
    if (list !== undefined) return list.split('\n').filter((p) => p !== '' && p !== '/.' && fs.files.get(p)?.type !== 'dir');
  }
  const dir = statusFile.startsWith(`${STATUS_D}/`) ? STATUS_D : INFO;
  for (const key of keys) {
    const md5sums = fs.readText(`${dir}/${key}.md5sums`);
    if (md5sums !== undefined) {
      return md5sums.split('\n').map((l) => l.replace(/^[0-9a-f]+\s+/, '').trim()).filter((p) => p !== '').map((p) => `/${p.replace(/^\/+/, '')}`);
    }
  }
  return [];
}

/**
 * Which installed package meets each of a package's Pre-Depends and Depends: of each OR-group, the first
 * alternative an installed package satisfies by name (and version) or by Provides — what apt chose, seen from
 * the result. A group nothing installed meets (a dependency pith leaves out, such as debconf) gives no edge.
 */
export function dependencyEdges(packages: readonly InstalledPackage[]): Map<string, string[]> {
  const byName = new Map<string, InstalledPackage[]>();
  const providers = new Map<string, InstalledPackage[]>();
  for (const p of packages) {
    byName.set(p.name, [...(byName.get(p.name) ?? []), p]);
    for (const v of p.provides) providers.set(v, [...(providers.get(v) ?? []), p]);
  }
  const edges = new Map<string, string[]>();
  for (const p of packages) {
    const to = new Set<string>();
    for (const group of p.depends) {
      for (const alt of group) {
        const direct = (byName.get(alt.name) ?? []).find((q) => !alt.op || !alt.version || satisfiesVersion(q.version, alt.op, alt.version));
        const met = direct ?? (alt.op ? undefined : providers.get(alt.name)?.[0]);
        if (met) {
          if (met.name !== p.name) to.add(met.name);
          break;
        }
      }
    }
    edges.set(p.name, [...to].sort());
  }
  return edges;
}
