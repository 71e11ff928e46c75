/**
 * Everything the SBOM writers, inspect and diff need to know about one platform image, taken from the image alone:
 * its config, layers, filesystem, OS, Debian packages (with purls, licences and the dependency edges among them)
 * and the spec's own files (the layer pith labels `files from the spec`).
 */
import { createHash } from 'node:crypto';
import { PackageURL } from 'packageurl-js';
import { SPEC_FILES_LAYER } from '../assemble/layer-names.ts';
import { digestHex, type Digest, type Platform } from '../oci/digest.ts';
import { platformString, type Image } from '../oci/image.ts';
import { declaredLicense, type DeclaredLicense } from './copyright.ts';
import { dependencyEdges, readOsRelease, readPackages, STATUS, type InstalledPackage, type OsRelease } from '../assemble/installed.ts';
import { AVAILABLE, INFO_D, STATUS_D } from '../assemble/status.ts';
import type { SourcedPackage } from '../debian/packages.ts';
import { readRootfs, type Rootfs } from '../oci/rootfs.ts';

export interface InventoryPackage extends InstalledPackage {
  purl: string;
  license: DeclaredLicense;
  /** Names of the installed packages this one's Depends and Pre-Depends are met by. */
  dependsOn: string[];
}

export interface SpecFile {
  path: string;
  size: number;
  mode: number;
  sha256: string;
  sha1: string;
}

export interface ImageInventory {
  /** What the image is called: its title annotation, else the location it was read from. */
  name: string;
  digest: Digest;
  platform: Platform;
  /** The config's `created` (pith: from SOURCE_DATE_EPOCH), so SBOMs of one image are identical. */
  created: string;
  image: Image;
  rootfs: Rootfs;
  os: OsRelease;
  packages: InventoryPackage[];
  specFiles: SpecFile[];
}

export const TITLE = 'org.opencontainers.image.title';

/**
 * The files whose content the inventory reads: dpkg's database (`readPackages`), the OS release files
 * (`readOsRelease`) and each package's copyright. Only these are kept in memory, whatever the image's size;
 * every other file is known by its metadata and SHA-256.
 */
export function inventoryReads(path: string): boolean {
  return path === STATUS || path === AVAILABLE || path.startsWith(`${STATUS_D}/`)
    || (path.startsWith(`${INFO_D}/`) && /\.(list|md5sums)$/.test(path))
    || path === '/etc/os-release' || path === '/usr/lib/os-release' || path === '/etc/debian_version'
    || /^\/usr\/share\/doc\/[^/]+\/copyright$/.test(path);
}

export async function imageInventory(image: Image, options: { name?: string; where?: string } = {}): Promise<ImageInventory> {
  // The spec's files are hashed with SHA-1 too as they pass (SPDX's package verification code).
  const rootfs = await readRootfs(image, options.where ?? image.digest, { keep: inventoryReads, sha1: (l) => l.createdBy === SPEC_FILES_LAYER });
  const os = readOsRelease(rootfs);
  const installed = readPackages(rootfs);
  const edges = dependencyEdges(installed);
  const packages = installed.map((p) => ({
    ...p,
    purl: debPurl(p, os),
    license: declaredLicense(rootfs.readText(`/usr/share/doc/${p.name}/copyright`)),
    dependsOn: edges.get(p.name) ?? [],
  }));
  const specLayer = rootfs.layers.find((l) => l.createdBy === SPEC_FILES_LAYER);
  const specFiles: SpecFile[] = [];
  for (const path of specLayer?.paths ?? []) {
    const f = rootfs.files.get(path);
    if (f?.type !== 'file' || f.layer !== specLayer!.index) continue;
    specFiles.push({ path, size: f.size, mode: f.mode, sha256: digestHex(rootfs.digest(f)!), sha1: f.sha1! });
  }
  specFiles.sort((a, b) => (a.path < b.path ? -1 : 1));
  return {
    name: options.name ?? image.manifest.annotations?.[TITLE] ?? options.where ?? image.digest,
    digest: image.digest,
    platform: image.platform,
    created: rfc3339(image.config.created),
    image,
    rootfs,
    os,
    packages,
    specFiles,
  };
}

/**
 * `pkg:deb/<ID>/NAME@VERSION?arch=ARCH&distro=<ID>-<VERSION_ID>`, with `upstream=SOURCE` when the source package
 * has another name, and `upstream=SOURCE@VERSION` when only its version differs (a binNMU) — the qualifier Syft
 * writes and Grype matches on (syft/pkg/cataloger/debian/package.go). The namespace is the os-release ID (debian).
 */
export function debPurl(p: SourcedPackage, os: OsRelease): string {
  const qualifiers: Record<string, string> = {};
  if (p.architecture) qualifiers.arch = p.architecture;
  if (os.id && os.versionId) qualifiers.distro = `${os.id}-${os.versionId}`;
  if (p.source !== p.name) qualifiers.upstream = p.sourceVersion !== p.version ? `${p.source}@${p.sourceVersion}` : p.source;
  else if (p.sourceVersion !== p.version) qualifiers.upstream = `${p.source}@${p.sourceVersion}`;
  return new PackageURL('deb', os.id ?? 'debian', p.name, p.version, qualifiers, undefined).toString();
}

/** `pkg:oci/NAME@sha256:…?arch=…` for the image itself (the purl spec's oci type). */
export function imagePurl(inv: Pick<ImageInventory, 'name' | 'digest' | 'platform'>): string {
  const name = inv.name.replace(/^.*\//, '').replace(/[:@].*$/, '').toLowerCase() || 'image';
  const qualifiers: Record<string, string> = { arch: inv.platform.architecture };
  return new PackageURL('oci', undefined, name, inv.digest, qualifiers, undefined).toString();
}

export function platformOf(inv: Pick<ImageInventory, 'platform'>): string {
  return platformString(inv.platform);
}

/** A config's `created` as SPDX and CycloneDX want it: UTC, whole seconds ("2023-11-14T22:13:20Z"). */
function rfc3339(created: string | undefined): string {
  const t = Date.parse(created ?? '');
  return new Date(Number.isFinite(t) ? t : 0).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A name-based UUID (version 5 layout) from the manifest digest, platform and format: unique per document, stable. */
export function documentUuid(inv: Pick<ImageInventory, 'digest' | 'platform'>, format: string): string {
  const h = createHash('sha1').update(`pith ${format} ${inv.digest} ${platformString(inv.platform)}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
