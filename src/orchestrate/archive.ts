/**
 * Opening a spec's archive: which sources (`--source`, else the spec's, else the machine's apt sources) and how
 * they are reached. The lock stage never opens an archive; it is handed one, so a fleet opens each distinct archive
 * once and every stage below gets only the values it needs.
 */
import type { Spec } from '../config/spec.ts';
import { DEFAULT_KEYRING, openArchive, type Archive, type ArchiveEvent } from '../debian/archive.ts';
import { loadAptSources, type SourceEntry } from '../debian/sources.ts';
import { specArchiveSources } from '../lock/lock.ts';

/** How an archive is reached: the few values opening it needs. */
export interface ArchiveAccess {
  /** `--source` entries; they replace the spec's and the machine's sources. */
  sources?: SourceEntry[];
  cacheDir?: string;
  offline?: boolean;
  /** The time InRelease dates are judged at (default now). */
  now?: Date;
  /** Downloads and warnings. */
  onEvent?: (event: ArchiveEvent) => void;
}

/** The archive sources a spec resolves against: `--source` flags, else the spec's, else the machine's apt sources. */
export function specSources(spec: Spec, override?: SourceEntry[], onWarning?: (message: string) => void): SourceEntry[] {
  if (override && override.length > 0) return override;
  const own = specArchiveSources(spec);
  if (own) return own;
  const fromApt = loadAptSources({ onWarning });
  const keyring = spec.archive?.keyring;
  return keyring ? fromApt.map((s) => ({ ...s, signedBy: s.signedBy ?? keyring })) : fromApt;
}

/** Opens and verifies the archive a spec names, for the given architectures. */
export function openSpecArchive(spec: Spec, architectures: string[], access: ArchiveAccess = {}): Promise<Archive> {
  return openArchive({
    sources: specSources(spec, access.sources, (message) => access.onEvent?.({ kind: 'warning', message })),
    architectures,
    cacheDir: access.cacheDir,
    offline: access.offline,
    keyring: spec.archive?.keyring ?? DEFAULT_KEYRING,
    now: access.now,
    onEvent: access.onEvent,
  });
}
