/**
 * The build cache: a whole architecture's assembly (its layers and reports) keyed by everything that decides the
 * layers' bytes, and beneath it each layer's compressed blob keyed by its diffId, so a warm rebuild re-assembles
 * only the image config and a one-package change recompresses only that package's layers.
 */
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContentStore, sha256Hex } from '../cache/store.ts';
import { digestOfSources } from '../cache/source-digest.ts';
import type { Spec } from '../config/spec.ts';
import { contentSha256 } from '../fs/content.ts';
import type { FsEntry } from '../fs/entry.ts';
import { canonicalJson } from '../json.ts';
import type { LibraryClosure } from '../libraries/closure.ts';
import type { LockedPackage } from '../lock/lock.ts';
import type { ScriptReportEntry } from '../maintscript/report.ts';
import type { Digest } from '../oci/digest.ts';
import { GZIP_SETTINGS } from '../oci/gzip.ts';
import { layerFromFile, type Layer, type LayerBlobCache } from '../oci/image.ts';
import type { Assembled } from './assemble.ts';
import type { TrimmedPath } from './paths.ts';

const BUILD_FORMAT = 'build-v2';
/** Defined by the bundler (scripts/bundle.ts) as the digest of the sources it bundled; absent when run from src/. */
declare const PITH_SOURCE_DIGEST: string | undefined;
let sourceDigest: string | undefined;

/**
 * Everything that decides the layers' bytes: the exact packages, the spec fields the tree depends on, the spec's
 * files, the epoch, the gzip settings, and pith's own source (so a changed rule never serves a stale layer).
 * The image config is not in it: it is rebuilt on every run, which costs nothing.
 */
export function buildKey(spec: Spec, locked: LockedPackage[], arch: string, specFiles: FsEntry[], sourceDateEpoch: number): string {
  sourceDigest ??= typeof PITH_SOURCE_DIGEST === 'string' ? PITH_SOURCE_DIGEST : digestOfSources(join(dirname(fileURLToPath(import.meta.url)), '..'));
  return sha256Hex(
    canonicalJson({
      format: BUILD_FORMAT,
      pith: sourceDigest,
      gzip: GZIP_SETTINGS,
      arch,
      sourceDateEpoch,
      packages: locked.map((p) => `${p.name} ${p.version} ${p.architecture} ${p.sha256}`),
      spec: { accounts: spec.accounts, paths: spec.paths, layers: spec.layers, timezone: spec.timezone, libraries: spec.libraries },
      files: specFiles.map((f) => (f.type === 'file' ? { ...f, content: contentSha256(f.content) } : f)),
    }),
  );
}

export interface BuildRecord {
  format: string;
  layers: Array<{ blob: string; diffId: Digest; uncompressedSize: number; comment: string; packages: string[] }>;
  user: string;
  trimmed: TrimmedPath[];
  scripts: ScriptReportEntry[];
  libraries: LibraryClosure[];
}

/** A previous identical build's layers, each blob verified on read; null when anything is missing. */
export async function loadBuild(store: ContentStore, key: string): Promise<Assembled | null> {
  const recordDigest = await store.getRef(BUILD_FORMAT, key);
  const recordBytes = recordDigest ? await store.get(recordDigest) : null;
  if (!recordBytes) return null;
  const record = JSON.parse(recordBytes.toString('utf8')) as BuildRecord;
  if (record.format !== BUILD_FORMAT) return null;
  const layers: Layer[] = [];
  for (const l of record.layers) {
    const path = await store.getFile(l.blob);
    if (!path) return null;
    layers.push(layerFromFile(path, { digest: `sha256:${l.blob}`, size: (await stat(path)).size, diffId: l.diffId, uncompressedSize: l.uncompressedSize, history: l.comment }));
  }
  return {
    layers,
    layerInfo: record.layers.map((l) => ({ comment: l.comment, packages: l.packages })),
    user: record.user,
    trimmed: record.trimmed,
    scripts: record.scripts,
    libraries: record.libraries ?? [],
    blobsFromCache: new Set(layers.map((l) => l.diffId)),
  };
}

/** What the cache records of a build: its layers by blob and diffId, and its reports. */
export function buildRecord(assembled: Assembled): BuildRecord {
  const layers = assembled.layers.map((l, i) => ({
    blob: l.digest.slice('sha256:'.length),
    diffId: l.diffId,
    uncompressedSize: l.uncompressedSize!,
    comment: assembled.layerInfo[i]!.comment,
    packages: assembled.layerInfo[i]!.packages,
  }));
  return { format: BUILD_FORMAT, layers, user: assembled.user, trimmed: assembled.trimmed, scripts: assembled.scripts, libraries: assembled.libraries };
}

/** Records a build; its layer blobs are in the store already, put there (or found there) by `layerBlobCache`. */
export async function saveBuild(store: ContentStore, key: string, assembled: Assembled): Promise<void> {
  await saveRecord(store, key, buildRecord(assembled));
}

/** Records a build record as is (one taken from a registry cache, whose blobs were put in the store). */
export async function saveRecord(store: ContentStore, key: string, record: BuildRecord): Promise<void> {
  if (record.format !== BUILD_FORMAT) return;
  await store.setRef(BUILD_FORMAT, key, await store.put(Buffer.from(JSON.stringify(record))));
}

const LAYER_BLOB_FORMAT = 'layer-gzip-v1';

/**
 * Beneath the whole-build record, each layer's compressed blob is cached by its diffId and the gzip settings (all
 * that determines its bytes), so a build in which one package changed compresses only that package's layer again.
 * The store re-hashes a blob on every read; a ref to a missing or damaged blob is a miss.
 */
export function layerBlobCache(store: ContentStore): LayerBlobCache & { hits: Set<Digest> } {
  const hits = new Set<Digest>();
  const key = (diffId: Digest) => `${GZIP_SETTINGS} ${diffId}`;
  return {
    hits,
    async get(diffId, uncompressedSize) {
      const digest = await store.getRef(LAYER_BLOB_FORMAT, key(diffId));
      const path = digest ? await store.getFile(digest) : null;
      if (!path) return null;
      hits.add(diffId);
      return layerFromFile(path, { digest: `sha256:${digest}`, size: (await stat(path)).size, diffId, uncompressedSize });
    },
    async put(diffId, write) {
      const { result, path } = await store.putStream(write, (made) => made.digest.slice('sha256:'.length));
      await store.setRef(LAYER_BLOB_FORMAT, key(diffId), result.digest.slice('sha256:'.length));
      return layerFromFile(path, { digest: result.digest, size: result.size, diffId, uncompressedSize: result.uncompressedSize });
    },
  };
}
