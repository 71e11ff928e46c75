/** `pith where PKG[@VERSION]`: which images of a fleet contain a package — by binary or source name — from their locks. */
import { loadSpec } from '../config/spec.ts';
import { lockToRead, readLock } from '../lock/lock.ts';
import { findSpecs } from './fleet.ts';

export interface WhereHit {
  spec: string;
  name: string;
  architecture: string;
  package: string;
  version: string;
  source: string;
  sourceVersion: string;
}

/** `query` is `name` or `name@version`; a version matches the binary version or, for a source name, the source version. */
export function where(query: string, paths: string[] = []): WhereHit[] {
  const at = query.indexOf('@');
  const name = at < 0 ? query : query.slice(0, at);
  const version = at < 0 ? undefined : query.slice(at + 1);
  const hits: WhereHit[] = [];
  for (const specPath of findSpecs(paths)) {
    const loaded = loadSpec(specPath);
    const lockFile = readLock(lockToRead(loaded));
    for (const [architecture, { packages }] of Object.entries(lockFile.architectures)) {
      for (const p of packages) {
        const byBinary = p.name === name && (version === undefined || p.version === version);
        const bySource = p.source === name && (version === undefined || p.sourceVersion === version);
        if (byBinary || bySource) {
          hits.push({ spec: loaded.path, name: loaded.spec.name, architecture, package: p.name, version: p.version, source: p.source, sourceVersion: p.sourceVersion });
        }
      }
    }
  }
  return hits;
}
