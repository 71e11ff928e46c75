/**
 * The Debian packages an SBOM lists, read back from it: the purls pith writes (`debPurl`, the same in SPDX and
 * CycloneDX) carry name, version, architecture, the source package (`upstream=`) and the release (`distro=`) — all
 * advisories are matched by. Reading the purls rather than pith's own fields keeps SBOMs other tools attached
 * (Syft writes the same purls) readable too.
 */
import { PackageURL } from 'packageurl-js';
import { debianRelease, type DebianRelease } from '../advisories/release.ts';
import type { SourcedPackage } from '../debian/packages.ts';
import { PithError } from '../errors.ts';

export interface SbomPackages {
  packages: SourcedPackage[];
  /** From the purls' `distro=debian-N`, else from base-files' version, when either is there. */
  release?: DebianRelease;
}

/** A `pkg:deb/…` purl as a package with its source (undefined for any other purl). */
export function parseDebPurl(purl: string): (SourcedPackage & { distro?: string }) | undefined {
  let p: PackageURL;
  try {
    p = PackageURL.fromString(purl);
  } catch {
    return undefined;
  }
  if (p.type !== 'deb' || !p.version) return undefined;
  const q = p.qualifiers ?? {};
  const upstream = q.upstream;
  const at = upstream?.indexOf('@') ?? -1;
  const source = upstream === undefined ? p.name : at < 0 ? upstream : upstream.slice(0, at);
  const sourceVersion = upstream !== undefined && at >= 0 ? upstream.slice(at + 1) : p.version;
  return { name: p.name, version: p.version, architecture: q.arch ?? '', source, sourceVersion, ...(q.distro ? { distro: q.distro } : {}) };
}

/** The Debian packages of an SPDX 2.x or CycloneDX JSON document (`where` names it in errors). */
export function sbomPackages(document: Uint8Array | string, where: string): SbomPackages {
  let doc: { packages?: Array<{ externalRefs?: Array<{ referenceType?: string; referenceLocator?: string }> }>; components?: Array<{ purl?: string }> };
  try {
    doc = JSON.parse(typeof document === 'string' ? document : new TextDecoder().decode(document)) as typeof doc;
  } catch (e) {
    throw new PithError('SBOM_UNREADABLE', `${where}: expected an SPDX or CycloneDX JSON document, found ${(e as Error).message}`);
  }
  const purls = Array.isArray(doc.packages)
    ? doc.packages.flatMap((p) => (p.externalRefs ?? []).filter((r) => r.referenceType === 'purl').map((r) => r.referenceLocator))
    : Array.isArray(doc.components)
      ? doc.components.map((c) => c.purl)
      : undefined;
  if (purls === undefined) throw new PithError('SBOM_UNREADABLE', `${where}: expected an SPDX document (packages) or a CycloneDX one (components), found neither`);
  const packages: SourcedPackage[] = [];
  let distro: string | undefined;
  for (const purl of purls) {
    const p = typeof purl === 'string' ? parseDebPurl(purl) : undefined;
    if (!p) continue;
    distro ??= p.distro;
    packages.push({ name: p.name, version: p.version, architecture: p.architecture, source: p.source, sourceVersion: p.sourceVersion });
  }
  const m = distro === undefined ? null : /^debian-(.+)$/.exec(distro);
  // Without VERSION_ID in os-release (testing, sid) the purls name no distro; base-files' version still says it.
  const baseFiles = packages.find((p) => p.name === 'base-files');
  const release = m ? debianRelease({ version: m[1] }) : baseFiles ? debianRelease({ version: baseFiles.version }) : undefined;
  return { packages, ...(release ? { release } : {}) };
}
