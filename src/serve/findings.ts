/**
 * The advisories that affect the fleet: every package of every image (locked, from an SBOM or from a dpkg status)
 * matched by source package and version against the advisories of the image's release, as `pith check` matches a
 * lock (`packageFindings`), with whether the configured archive serves a fixed version now.
 */
import { loadAdvisories } from '../advisories/load.ts';
import { AdvisoryIndex } from '../advisories/match.ts';
import { debianRelease } from '../advisories/release.ts';
import type { Archive } from '../debian/archive.ts';
import type { BinaryPackage } from '../debian/packages.ts';
import { packagesByName } from '../lock/lock.ts';
import { packageFindings } from '../orchestrate/check.ts';
import type { FleetFinding, FleetImage } from './model.ts';

/** Advisory indexes by release codename (`bookworm`), as `FleetImage.release` names it. */
export type FleetAdvisories = ReadonlyMap<string, AdvisoryIndex>;

export interface LoadFleetAdvisoriesOptions {
  cacheDir?: string;
  offline?: boolean;
  onWarning?: (message: string) => void;
}

/**
 * The advisories of `sources` (files, directories, zips, URLs: as `pith check --advisories` takes them) for each
 * release the images are matched against, each release's records read once.
 */
export async function loadFleetAdvisories(sources: readonly string[], images: readonly Pick<FleetImage, 'release'>[], options: LoadFleetAdvisoriesOptions = {}): Promise<FleetAdvisories> {
  const out = new Map<string, AdvisoryIndex>();
  for (const codename of new Set(images.flatMap((i) => (i.release ? [i.release] : [])))) {
    const release = debianRelease({ codename });
    if (!release) continue;
    out.set(codename, new AdvisoryIndex((await loadAdvisories([...sources], { ...release, ...options })).advisories));
  }
  return out;
}

/**
 * Every advisory affecting a package of an image, once per image digest, advisory and package name (an image with a
 * package of two architectures, `libc6:amd64` and `libc6:i386`, has one finding). `archive`, when given, says
 * whether a fix is served.
 */
export function findingsFor(images: readonly FleetImage[], advisories: FleetAdvisories, archive?: Archive): FleetFinding[] {
  const findings: FleetFinding[] = [];
  const seen = new Set<string>();
  for (const image of images) {
    const index = image.release === undefined ? undefined : advisories.get(image.release);
    if (!index) continue;
    // `Architecture: all` packages are served in every architecture's indexes: look them up in the image's own.
    const imageArch = image.packages.find((p) => p.architecture !== 'all' && p.architecture !== '')?.architecture;
    for (const p of image.packages) {
      const arch = p.architecture === 'all' || p.architecture === '' ? imageArch : p.architecture;
      const served = arch === undefined ? [] : servedVersions(archive, arch, p.name, p.architecture);
      for (const f of packageFindings(p, arch ?? p.architecture, index, served)) {
        const key = `${image.digest}\0${f.id}\0${f.package}`;
        if (seen.has(key)) continue;
        seen.add(key);
        findings.push({
          digest: image.digest,
          id: f.id,
          package: f.package,
          installed: f.installed,
          source: f.source,
          ...(f.fixed !== undefined ? { fixed: f.fixed } : {}),
          fixAvailable: f.fixAvailable,
          ...(f.severity !== undefined ? { severity: f.severity } : {}),
        });
      }
    }
  }
  return findings;
}

/** The versions of a package the archive serves for an architecture it was opened for (none otherwise). */
function servedVersions(archive: Archive | undefined, arch: string, name: string, architecture: string): BinaryPackage[] {
  if (!archive || !archive.architectures.includes(arch)) return [];
  return (packagesByName(archive, arch).get(name) ?? []).filter((p) => p.architecture === architecture || architecture === '');
}
