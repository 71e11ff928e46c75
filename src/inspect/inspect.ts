/**
 * `pith inspect`: what an image is, per platform — config, layers (with the packages in each), packages, totals,
 * and with `files` every path with its mode, owner, size and owning package. Read from any transport, from the
 * image alone.
 */
import { sourcedPackage, type SourcedPackage } from '../debian/packages.ts';
import { isImageIndex, platformString, type Image, type ImageIndex } from '../oci/image.ts';
import { platformImages } from '../oci/read.ts';
import { formatDestination, locateImage, readImage, type PlatformOptions } from '../transports/transports.ts';
import { imageInventory, type ImageInventory } from '../sbom/inventory.ts';

export interface InspectedFile {
  path: string;
  type: string;
  mode: string;
  uid: number;
  gid: number;
  size: number;
  /** The Debian package that owns it; "spec" for the spec's files; null for what pith (or nobody known) wrote. */
  package: string | null;
  target?: string;
  layer: number;
}

export interface InspectedPlatform {
  platform: string;
  digest: string;
  created: string;
  os: { id?: string; versionId?: string; debianVersion?: string };
  config: { user?: string; entrypoint?: string[]; cmd?: string[]; env: string[]; workingDir?: string; exposedPorts: string[]; labels: Record<string, string> };
  layers: Array<{ digest: string; size: number; uncompressedSize: number; diffId: string; createdBy?: string; packages: string[] }>;
  packages: SourcedPackage[];
  totals: { layers: number; compressedBytes: number; uncompressedBytes: number; packages: number; files: number };
  files?: InspectedFile[];
}

export interface Inspection {
  location: string;
  digest: string;
  mediaType: string;
  platforms: InspectedPlatform[];
}

/** path → owning package, from every package's file list; the spec's files are "spec". */
export function owners(inv: ImageInventory): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of inv.packages) {
    for (const f of p.files) if (!out.has(f)) out.set(f, p.name);
    // Its dpkg metadata too, which dpkg's own lists leave out.
    for (const f of [p.statusFile, `${p.statusFile}.md5sums`, `/var/lib/dpkg/info/${p.name}.list`]) if (p.statusFile.startsWith('/var/lib/dpkg/status.d/') && inv.rootfs.files.has(f)) out.set(f, p.name);
  }
  for (const f of inv.specFiles) out.set(f.path, 'spec');
  return out;
}

export function inspectInventory(inv: ImageInventory, options: { files?: boolean } = {}): InspectedPlatform {
  const c = inv.image.config.config ?? {};
  const own = owners(inv);
  const layers = inv.rootfs.layers.map((l) => ({
    digest: l.digest,
    size: l.size,
    uncompressedSize: l.uncompressedSize,
    diffId: l.diffId,
    ...(l.createdBy === undefined ? {} : { createdBy: l.createdBy }),
    packages: [...new Set(l.paths.map((p) => own.get(p)).filter((p): p is string => p !== undefined && p !== 'spec'))].sort(),
  }));
  const files = [...inv.rootfs.files.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
  return {
    platform: platformString(inv.platform),
    digest: inv.digest,
    created: inv.created,
    os: { ...(inv.os.id ? { id: inv.os.id } : {}), ...(inv.os.versionId ? { versionId: inv.os.versionId } : {}), ...(inv.os.debianVersion ? { debianVersion: inv.os.debianVersion } : {}) },
    config: {
      ...(c.User ? { user: c.User } : {}),
      ...(c.Entrypoint ? { entrypoint: c.Entrypoint } : {}),
      ...(c.Cmd ? { cmd: c.Cmd } : {}),
      env: c.Env ?? [],
      ...(c.WorkingDir ? { workingDir: c.WorkingDir } : {}),
      exposedPorts: Object.keys(c.ExposedPorts ?? {}).sort(),
      labels: c.Labels ?? {},
    },
    layers,
    packages: inv.packages.map(sourcedPackage),
    totals: {
      layers: layers.length,
      compressedBytes: layers.reduce((n, l) => n + l.size, 0),
      uncompressedBytes: layers.reduce((n, l) => n + l.uncompressedSize, 0),
      packages: inv.packages.length,
      files: files.length,
    },
    ...(options.files
      ? {
          files: files.map((f) => ({
            path: f.path,
            type: f.type,
            mode: (f.mode & 0o7777).toString(8).padStart(4, '0'),
            uid: f.uid,
            gid: f.gid,
            size: f.size,
            package: own.get(f.path) ?? null,
            ...(f.target === undefined ? {} : { target: f.target }),
            layer: f.layer,
          })),
        }
      : {}),
  };
}

export async function inspectImage(x: Image | ImageIndex, location: string, options: PlatformOptions & { files?: boolean } = {}): Promise<Inspection> {
  const platforms: InspectedPlatform[] = [];
  for (const image of platformImages(x, options)) platforms.push(inspectInventory(await imageInventory(image, { where: location }), options));
  return { location, digest: x.digest, mediaType: isImageIndex(x) ? x.index.mediaType : x.manifest.mediaType, platforms };
}

/** `pith inspect`: the image or index at `location` (any transport), per platform. */
export async function inspect(location: string, options: PlatformOptions & { files?: boolean } = {}): Promise<Inspection> {
  const dest = await locateImage(location);
  return inspectImage(await readImage(dest, options.registry), formatDestination(dest), options);
}
