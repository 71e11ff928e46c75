/**
 * One whole refresh, as `pith serve`'s schedule runs it: the sources read into a snapshot, the advisory feeds and
 * the archive refreshed (as `pith check` refreshes them), and the findings they give. Like a source, a feed or an
 * archive that cannot be read is an error of the snapshot, never a failed refresh: the findings are then made with
 * what could be read (without the archive, no fix is known to be served).
 */
import { errorLine } from '../errors.ts';
import { openSourcesArchive } from '../orchestrate/archive.ts';
import type { Archive } from '../debian/archive.ts';
import type { ServeConfig } from './config.ts';
import { findingsFor, loadFleetAdvisories, type FleetAdvisories } from './findings.ts';
import type { FleetFinding, FleetImage, FleetSnapshot } from './model.ts';
import { readSources, type ReadSourcesOptions } from './sources.ts';

export interface RefreshOptions extends ReadSourcesOptions {
  cacheDir?: string;
  offline?: boolean;
  onWarning?: (message: string) => void;
}

export interface Refresh {
  snapshot: FleetSnapshot;
  findings: FleetFinding[];
}

export async function refreshFleet(config: Pick<ServeConfig, 'specs' | 'registries' | 'manifests' | 'advisories' | 'sources'>, options: RefreshOptions = {}): Promise<Refresh> {
  const snapshot = await readSources(config, options);
  const failed = (source: string) => (e: unknown) => {
    snapshot.errors.push({ source, message: errorLine(e) });
    return undefined;
  };
  const advisories: FleetAdvisories = config.advisories.length === 0
    ? new Map()
    : ((await loadFleetAdvisories(config.advisories, snapshot.images, options).catch(failed(`advisories ${config.advisories.join(', ')}`))) ?? new Map());
  const architectures = debianArchitectures(snapshot.images);
  const archive: Archive | undefined = advisories.size === 0 || architectures.length === 0
    ? undefined
    : await openSourcesArchive(config.sources, architectures, { cacheDir: options.cacheDir, offline: options.offline, onEvent: (e) => { if (e.kind === 'warning') options.onWarning?.(e.message); } })
      .catch(failed(`archive ${config.sources?.map((s) => `${s.uri} ${s.suites.join(' ')}`).join(', ') ?? "(the machine's apt sources)"}`));
  return { snapshot, findings: findingsFor(snapshot.images, advisories, archive) };
}

/** The Debian architectures the images' packages are built for (`all` is served in every one). */
function debianArchitectures(images: readonly FleetImage[]): string[] {
  const out = new Set<string>();
  for (const i of images) for (const p of i.packages) if (p.architecture !== 'all' && p.architecture !== '') out.add(p.architecture);
  return [...out].sort();
}
