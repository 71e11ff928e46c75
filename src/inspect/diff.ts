/**
 * `pith diff A B`: per platform, the packages added, removed and changed (old → new version), the files added,
 * removed and changed (by content digest, or link target), the layers shared and new, and the bytes a node that
 * already holds A must pull to run B: B's layer blobs it lacks (by digest), and B's config and manifest when
 * they differ from A's.
 */
import { compareVersions } from '../debian/version.ts';
import { platformString, type Image, type ImageIndex } from '../oci/image.ts';
import { formatDestination, locateImage, readImage, type PlatformOptions } from '../transports/transports.ts';
import { platformImages } from '../oci/read.ts';
import { imageInventory, type ImageInventory } from '../sbom/inventory.ts';

export interface PlatformDiff {
  platform: string;
  a: string;
  b: string;
  packages: {
    added: Array<{ name: string; version: string }>;
    removed: Array<{ name: string; version: string }>;
    changed: Array<{ name: string; from: string; to: string; direction: 'upgrade' | 'downgrade' }>;
  };
  files: { added: string[]; removed: string[]; changed: string[] };
  layers: { shared: string[]; new: Array<{ digest: string; size: number }>; gone: string[] };
  pull: { bytes: number; layerBytes: number; layers: number; configBytes: number; manifestBytes: number };
}

export interface ImageDiff {
  a: { location: string; digest: string };
  b: { location: string; digest: string };
  platforms: PlatformDiff[];
  /** Platforms only one side has. */
  onlyInA: string[];
  onlyInB: string[];
}

function fileKey(inv: ImageInventory, path: string): string {
  const f = inv.rootfs.files.get(path)!;
  return f.type === 'file' || f.type === 'hardlink' ? `file ${inv.rootfs.digest(f)}` : f.type === 'symlink' ? `symlink ${f.target}` : 'dir';
}

export function diffInventories(a: ImageInventory, b: ImageInventory): PlatformDiff {
  const pa = new Map(a.packages.map((p) => [p.name, p.version]));
  const pb = new Map(b.packages.map((p) => [p.name, p.version]));
  const packages: PlatformDiff['packages'] = { added: [], removed: [], changed: [] };
  for (const [name, version] of pb) {
    const old = pa.get(name);
    if (old === undefined) packages.added.push({ name, version });
    else if (old !== version) packages.changed.push({ name, from: old, to: version, direction: compareVersions(version, old) > 0 ? 'upgrade' : 'downgrade' });
  }
  for (const [name, version] of pa) if (!pb.has(name)) packages.removed.push({ name, version });

  const files: PlatformDiff['files'] = { added: [], removed: [], changed: [] };
  for (const path of b.rootfs.files.keys()) {
    if (!a.rootfs.files.has(path)) files.added.push(path);
    else if (fileKey(a, path) !== fileKey(b, path)) files.changed.push(path);
  }
  for (const path of a.rootfs.files.keys()) if (!b.rootfs.files.has(path)) files.removed.push(path);
  for (const list of Object.values(files)) list.sort();

  const have = new Set(a.image.layers.map((l) => l.digest));
  const want = new Set(b.image.layers.map((l) => l.digest));
  const fresh = new Map<string, number>();
  for (const l of b.image.layers) if (!have.has(l.digest)) fresh.set(l.digest, l.size);
  const layerBytes = [...fresh.values()].reduce((n, s) => n + s, 0);
  const configBytes = a.image.manifest.config.digest === b.image.manifest.config.digest ? 0 : b.image.configBytes.byteLength;
  const manifestBytes = a.digest === b.digest ? 0 : b.image.manifestBytes.byteLength;
  return {
    platform: platformString(b.platform),
    a: a.digest,
    b: b.digest,
    packages,
    files,
    layers: {
      shared: b.image.layers.filter((l) => have.has(l.digest)).map((l) => l.digest),
      new: [...fresh].map(([digest, size]) => ({ digest, size })),
      gone: a.image.layers.filter((l) => !want.has(l.digest)).map((l) => l.digest),
    },
    pull: { bytes: layerBytes + configBytes + manifestBytes, layerBytes, layers: fresh.size, configBytes, manifestBytes },
  };
}

export async function diffImages(a: Image | ImageIndex, b: Image | ImageIndex, where: { a: string; b: string }, options: PlatformOptions = {}): Promise<ImageDiff> {
  const as = new Map(platformImages(a, options).map((i) => [platformString(i.platform), i]));
  const bs = new Map(platformImages(b, options).map((i) => [platformString(i.platform), i]));
  // Two single-platform images are compared whatever their platforms say (an amd64 build against an arm64 one).
  const pairs: Array<[Image, Image]> = as.size === 1 && bs.size === 1 ? [[[...as.values()][0]!, [...bs.values()][0]!]] : [...bs].filter(([p]) => as.has(p)).map(([p, img]) => [as.get(p)!, img]);
  const platforms: PlatformDiff[] = [];
  for (const [x, y] of pairs) platforms.push(diffInventories(await imageInventory(x, { where: where.a }), await imageInventory(y, { where: where.b })));
  return {
    a: { location: where.a, digest: a.digest },
    b: { location: where.b, digest: b.digest },
    platforms,
    onlyInA: pairs.length === 1 && as.size === 1 && bs.size === 1 ? [] : [...as.keys()].filter((p) => !bs.has(p)),
    onlyInB: pairs.length === 1 && as.size === 1 && bs.size === 1 ? [] : [...bs.keys()].filter((p) => !as.has(p)),
  };
}

/** `pith diff A B`: two images or indexes at any locations, per platform. */
export async function diff(a: string, b: string, options: PlatformOptions = {}): Promise<ImageDiff> {
  const [da, db] = await Promise.all([locateImage(a), locateImage(b)]);
  const [xa, xb] = await Promise.all([readImage(da, options.registry), readImage(db, options.registry)]);
  return diffImages(xa, xb, { a: formatDestination(da), b: formatDestination(db) }, options);
}
