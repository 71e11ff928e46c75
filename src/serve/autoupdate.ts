/**
 * `pith serve --auto-update`: after a refresh, `pith update --only security` for each spec whose image has an
 * advisory with a fix in the archive, pushing the new image where the old one was found (its registry tags), so the
 * next refresh sees the fix reach the registry and records the time to patch. Manifests are left to the team's own
 * rollout (`pith rollout`, GitOps): a service writing into them unasked would fight whoever owns them.
 *
 * A spec is tried once per set of open fixes: an update that fails (its smoke test, a push) is recorded and not
 * retried every interval until a new fix appears or the service restarts.
 */
import { errorLine } from '../errors.ts';
import { update } from '../orchestrate/update.ts';
import type { RegistryOptions } from '../registry/client.ts';
import type { FleetStore } from './store.ts';

export interface AutoUpdateRecord {
  /** When the update finished. */
  at: string;
  spec: string;
  image: string;
  /** The image's digest before. */
  digest: string;
  /** The advisories with a fix available that prompted it. */
  advisories: string[];
  updated: boolean;
  newDigest?: string;
  /** `repo:tag@sha256:…` of each push. */
  pushed: string[];
  error?: string;
}

export interface AutoUpdateOptions {
  advisories: string[];
  cacheDir?: string;
  offline?: boolean;
  registry?: RegistryOptions;
  /** Runs a store read as the service runs them (behind its gate). */
  read: <T>(fn: () => Promise<T>) => Promise<T>;
}

export class AutoUpdater {
  /** Spec file → the open fixes it was last updated for. */
  private readonly tried = new Map<string, string>();
  /** The most recent first, at most 100. */
  readonly records: AutoUpdateRecord[] = [];

  constructor(private readonly store: FleetStore, private readonly options: AutoUpdateOptions) {}

  /** Updates what needs it now; returns this round's records. */
  async run(): Promise<AutoUpdateRecord[]> {
    const { store, options } = this;
    const images = await options.read(() => store.listImages());
    const round: AutoUpdateRecord[] = [];
    for (const image of images) {
      if (image.openFixes === 0 || image.stale) continue;
      const specs = image.origins.filter((o) => o.kind === 'spec' && o.state === 'current').map((o) => o.reference);
      if (specs.length === 0) continue;
      const detail = await options.read(() => store.imageDetail(image.digest));
      const advisories = [...new Set((detail?.findings ?? []).filter((f) => f.fixAvailable).map((f) => f.id))].sort();
      const push = image.origins.filter((o) => o.kind === 'registry' && o.state === 'current').map((o) => o.reference);
      for (const spec of specs) {
        const key = advisories.join(' ');
        if (this.tried.get(spec) === key) continue;
        this.tried.set(spec, key);
        const base = { spec, image: image.name, digest: image.digest, advisories };
        try {
          const [result] = await update([spec], {
            only: 'security',
            push,
            advisories: options.advisories,
            sbom: ['spdx'],
            ...(options.cacheDir !== undefined ? { cacheDir: options.cacheDir } : {}),
            ...(options.offline ? { offline: true } : {}),
            ...(options.registry ? { registry: options.registry } : {}),
          });
          round.push({ ...base, at: new Date().toISOString(), updated: result?.updated ?? false, ...(result?.newDigest ? { newDigest: result.newDigest } : {}), pushed: result?.pushed ?? [] });
        } catch (e) {
          round.push({ ...base, at: new Date().toISOString(), updated: false, pushed: [], error: errorLine(e) });
        }
      }
    }
    this.records.unshift(...[...round].reverse());
    this.records.splice(100);
    return round;
  }
}
