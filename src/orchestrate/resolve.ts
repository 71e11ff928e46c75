/**
 * `pith resolve`: apt's own answer for a list of packages — the verified archive (the given sources, else this
 * machine's apt sources) opened for one architecture, and the closure resolved without pith's minimal-by-default
 * choices, so it can be compared with apt's.
 */
import { openArchive, type ArchiveEvent } from '../debian/archive.ts';
import { resolve, type Resolution } from '../debian/resolve.ts';
import { loadAptSources, type SourceEntry } from '../debian/sources.ts';
import { hostArchitecture } from '../lock/lock.ts';

export interface ResolvePackagesOptions {
  /** Default: this machine's apt sources. */
  sources?: SourceEntry[];
  /** Default: this machine's. */
  architecture?: string;
  /** Packages dropped, with what only they pulled in. */
  exclude?: Array<{ name: string; reason: string }>;
  /** For sources without Signed-By (default the Debian archive keyring). */
  keyring?: string;
  cacheDir?: string;
  offline?: boolean;
  onEvent?: (event: ArchiveEvent) => void;
}

export async function resolvePackages(packages: string[], options: ResolvePackagesOptions = {}): Promise<Resolution> {
  const architecture = options.architecture ?? hostArchitecture();
  const archive = await openArchive({
    sources: options.sources ?? loadAptSources({ onWarning: (message) => options.onEvent?.({ kind: 'warning', message }) }),
    architectures: [architecture],
    cacheDir: options.cacheDir,
    offline: options.offline,
    keyring: options.keyring,
    onEvent: options.onEvent,
  });
  return resolve(archive.universe(architecture), packages, { architecture, exclude: options.exclude ?? [] });
}
