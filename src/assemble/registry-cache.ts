/**
 * The build cache in a registry, shared by every machine that can reach it (`--cache-from`/`--cache-to
 * docker://REG/REPO`): the same two levels as the local cache (`cache.ts`), each entry an OCI artifact under a tag
 * derived from its key, so a lookup is one manifest request and no index has to be kept consistent between writers:
 *
 * - `pith-build-<buildKey>`: a whole architecture's assembly — config: the build record (layers, reports), layers:
 *   the compressed layer blobs. A machine with an empty local cache that finds it downloads no `.deb` and compresses
 *   nothing.
 * - `pith-layer-<sha256(gzip settings, diffId)>`: one compressed layer by what it holds, so a build whose tree
 *   differs elsewhere (another spec carrying the same package) compresses none of the layers another machine made.
 *
 * What comes back is verified like everything else downloaded: every blob against its digest (the registry client
 * does that), and a layer's uncompressed bytes against the diffId it is asked for or that its record names. An entry
 * that fails is reported and rebuilt, never used. The cache repository is trusted as much as the registry images are
 * pushed to: a build record's packages cannot be checked without the `.deb`s it spares.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import type { ContentStore } from '../cache/store.ts';
import { sha256Hex } from '../cache/store.ts';
import { isPithError, PithError } from '../errors.ts';
import { EMPTY_JSON } from '../oci/artifact.ts';
import { digestOf, MediaType, type Descriptor, type Digest } from '../oci/digest.ts';
import { GZIP_SETTINGS } from '../oci/gzip.ts';
import { parseReference, type Reference } from '../oci/reference.ts';
import { repositoryScope } from '../registry/auth.ts';
import { noteBlob, RegistryClient, type RegistryOptions } from '../registry/client.ts';
import { emptyStats, pushBlob } from '../registry/upload.ts';
import type { LayerBlobCache } from '../oci/image.ts';

const ARTIFACT_TYPE = 'application/vnd.pith.cache.v1';
const RECORD_MEDIA_TYPE = 'application/vnd.pith.build-record.v1+json';
const DIFF_ID = 'dev.pith.diff-id';
const CLAIM_TYPE = 'application/vnd.pith.cache-claim.v1';
const PUBLISHER = 'dev.pith.publisher';
const CLAIMED_AT = 'dev.pith.claimed-at';
/** How long a claim holds: a builder that has not published its layer by then is taken to have died. */
const CLAIM_TTL_MS = 60_000;
/** How long a claimant waits before reading its claim back: more than the time between another's look and write. */
const claimSettleMs = () => Number(process.env.PITH_CACHE_CLAIM_SETTLE_MS ?? 100);

export interface RegistryCacheOptions {
  /** `docker://REG/REPO` (or `REG/REPO`) repositories looked in, in order. */
  from?: readonly string[];
  /** Repositories every new entry is published to. */
  to?: readonly string[];
  registry?: RegistryOptions;
  /** Entries refused (damaged or tampered), each then rebuilt. */
  onWarning?: (message: string) => void;
}

/** The repository a `--cache-from`/`--cache-to` value names (a tag or digest in it is refused: tags are pith's). */
export function cacheRepository(value: string, where: string): Reference {
  const text = value.startsWith('docker://') ? value.slice('docker://'.length) : value;
  const ref = parseReference(text, where);
  if (ref.digest !== undefined || /:[^/]+$/.test(text)) {
    throw new PithError('CACHE_REF_INVALID', `${where}: expected a repository such as docker://registry.example:5000/team/cache, found "${value}", which names a tag or digest (pith names its cache entries itself)`);
  }
  return { domain: ref.domain, path: ref.path };
}

/** One repository of the cache, opened. */
interface Repo {
  client: RegistryClient;
  path: string;
  name: string;
}

export class RegistryCache {
  private readonly refs: { from: Reference[]; to: Reference[] };
  private readonly opened = new Map<'from' | 'to', Promise<Repo[]>>();
  private readonly pushed = new Map<string, Promise<unknown>>();
  /** This builder, in claims and publications. */
  readonly id = randomUUID();

  /** Checks every repository named now, so a bad value fails before any work; connects on first use. */
  constructor(private readonly options: RegistryCacheOptions) {
    this.refs = {
      from: (options.from ?? []).map((v) => cacheRepository(v, '--cache-from')),
      to: (options.to ?? []).map((v) => cacheRepository(v, '--cache-to')),
    };
  }

  private repos(which: 'from' | 'to'): Promise<Repo[]> {
    let repos = this.opened.get(which);
    if (!repos) {
      repos = Promise.all(
        this.refs[which].map(async (r) => {
          const { client, ref } = await RegistryClient.primary(r, this.options.registry);
          return { client, path: ref.path, name: `${client.domain}/${ref.path}` };
        }),
      );
      this.opened.set(which, repos);
    }
    return repos;
  }

  get enabled(): boolean {
    return this.refs.from.length + this.refs.to.length > 0;
  }

  /**
   * A whole build by its key: the record and each layer blob (put into the local store so the local cache serves
   * the next build), or null when no repository has it whole and sound.
   */
  async loadBuild<R extends { layers: Array<{ blob: string; diffId: Digest }> }>(key: string, store: ContentStore): Promise<R | null> {
    for (const repo of await this.repos('from')) {
      const entry = await this.entry(repo, `pith-build-${key}`);
      if (!entry) continue;
      try {
        const record = JSON.parse(new TextDecoder().decode(await repo.client.getBlob(repo.path, entry.config, this.pullScopes(repo)))) as R;
        for (const l of record.layers) {
          const d = entry.layers.find((x) => x.digest === `sha256:${l.blob}`);
          if (!d) throw new PithError('REGISTRY_BAD_RESPONSE', `the record names layer ${l.blob}, which the entry does not hold`);
          await store.put(await this.layerBlob(repo, d, l.diffId), l.blob);
        }
        return record;
      } catch (e) {
        this.refused(repo, `pith-build-${key}`, e);
      }
    }
    return null;
  }

  /** Publishes a whole build (its layer blobs are in `store`) to every `to` repository. */
  async saveBuild(key: string, record: { layers: Array<{ blob: string; diffId: Digest }> }, store: ContentStore): Promise<void> {
    const to = await this.repos('to');
    if (to.length === 0) return;
    const layers: Array<{ descriptor: Descriptor; bytes: Uint8Array }> = [];
    for (const l of record.layers) {
      const bytes = await store.get(l.blob);
      if (!bytes) return; // the local cache lost it meanwhile: nothing sound to publish
      layers.push({ descriptor: { mediaType: MediaType.layerGzip, digest: `sha256:${l.blob}`, size: bytes.byteLength, annotations: { [DIFF_ID]: l.diffId } }, bytes: new Uint8Array(bytes) });
    }
    const config = { mediaType: RECORD_MEDIA_TYPE, bytes: new TextEncoder().encode(JSON.stringify(record)) };
    for (const repo of to) await this.publish(repo, `pith-build-${key}`, config, layers);
  }

  /** The local layer-blob cache, backed by the registry: a local miss asks each `from` repository, a put publishes. */
  layerBlobs(local: LayerBlobCache & { hits: Set<Digest> }): LayerBlobCache & { hits: Set<Digest>; fromRegistry: Set<Digest> } {
    const fromRegistry = new Set<Digest>();
    return {
      hits: local.hits,
      fromRegistry,
      get: async (diffId, uncompressedSize) => {
        const own = await local.get(diffId, uncompressedSize);
        if (own) return own;
        const keep = async (blob: Uint8Array) => {
          const layer = await local.put(diffId, async (out) => {
            await pipeline(Readable.from([blob]), out);
            return { diffId, uncompressedSize, digest: digestOf(blob), size: blob.byteLength };
          });
          local.hits.add(diffId);
          fromRegistry.add(diffId);
          return layer;
        };
        for (const repo of await this.repos('from')) {
          const entry = await this.entry(repo, layerTag(diffId));
          const d = entry?.layers[0];
          if (!d) continue;
          try {
            return await keep(await this.layerBlob(repo, d, diffId));
          } catch (e) {
            this.refused(repo, layerTag(diffId), e);
          }
        }
        // Nobody has it yet: compress it here unless another builder sharing the cache already is (then take theirs).
        const [claimIn] = await this.repos('to');
        if (claimIn && !(await this.claim(claimIn, diffId))) {
          const blob = await this.awaitLayer(claimIn, diffId);
          if (blob) return keep(blob);
        }
        return null;
      },
      put: async (diffId, write) => {
        const layer = await local.put(diffId, write);
        const to = await this.repos('to');
        if (to.length === 0) return layer;
        // Published from memory: the registry cache is for layers that fit in a buffer (the local cache streams).
        const blob = await layer.bytes();
        const descriptor: Descriptor = { mediaType: MediaType.layerGzip, digest: layer.digest, size: layer.size, annotations: { [DIFF_ID]: diffId } };
        // The publisher's id makes each publication a revision of its own in the registry, so how often a layer was
        // compressed fleet-wide can be read from it.
        for (const repo of to) await this.publish(repo, layerTag(diffId), EMPTY_JSON, [{ descriptor, bytes: blob }], { [PUBLISHER]: this.id });
        return layer;
      },
    };
  }

  private pullScopes(repo: Repo): string[] {
    return [repositoryScope(repo.path, ['pull'])];
  }

  /** The manifest a tag names, or undefined when the repository lacks the tag. */
  private async manifestAt(repo: Repo, tag: string): Promise<Uint8Array | undefined> {
    try {
      return (await repo.client.getManifest(repo.path, tag, this.pullScopes(repo))).bytes;
    } catch (e) {
      if (isPithError(e, 'REGISTRY_NOT_FOUND')) return undefined;
      throw e;
    }
  }

  /** The entry's manifest under a tag, or undefined when the repository lacks it. */
  private async entry(repo: Repo, tag: string): Promise<{ config: Descriptor; layers: Descriptor[] } | undefined> {
    const bytes = await this.manifestAt(repo, tag);
    if (bytes === undefined) return undefined;
    try {
      const m = JSON.parse(new TextDecoder().decode(bytes)) as { artifactType?: string; config?: Descriptor; layers?: Descriptor[] };
      if (m.artifactType !== ARTIFACT_TYPE || !m.config || !Array.isArray(m.layers)) throw new Error(`not a pith cache entry (artifactType ${m.artifactType ?? 'none'})`);
      return { config: m.config, layers: m.layers };
    } catch (e) {
      this.refused(repo, tag, e);
      return undefined;
    }
  }

  /** A layer blob, its digest checked by the client and its uncompressed bytes against the diffId. */
  private async layerBlob(repo: Repo, d: Descriptor, diffId: Digest): Promise<Uint8Array> {
    const blob = await repo.client.getBlob(repo.path, d, this.pullScopes(repo));
    const found = `sha256:${createHash('sha256').update(gunzipSync(blob)).digest('hex')}`;
    if (found !== diffId) throw new PithError('REGISTRY_DIGEST_MISMATCH', `layer ${d.digest} uncompresses to ${found}, not the ${diffId} it is cached for`);
    noteBlob(repo.client, repo.path, d.digest); // a later push to this registry mounts it instead of uploading
    return blob;
  }

  /**
   * Claims the compression of a layer for this builder: a claim tag naming it, read back once every builder that
   * looked at the same moment has had time to write its own (the registry keeps the last write). A fresh claim of
   * another builder is left alone; one older than CLAIM_TTL_MS (its builder died) is taken over.
   */
  private async claim(repo: Repo, diffId: Digest): Promise<boolean> {
    const tag = claimTag(diffId);
    const empty = { descriptor: { mediaType: EMPTY_JSON.mediaType, digest: digestOf(EMPTY_JSON.bytes), size: EMPTY_JSON.bytes.byteLength }, bytes: EMPTY_JSON.bytes };
    // The blob first, so that looking and writing the claim are as close together as two requests can be.
    await this.pushOnce(repo, empty.descriptor, empty.bytes, [repositoryScope(repo.path, ['pull', 'push'])]);
    const current = await this.claimOf(repo, tag);
    if (current && current.owner !== this.id && Date.now() - current.at < CLAIM_TTL_MS) return false;
    await this.publish(repo, tag, EMPTY_JSON, [empty], { [PUBLISHER]: this.id, [CLAIMED_AT]: String(Date.now()) }, CLAIM_TYPE);
    // Read back twice: a contender whose write landed late overwrote the tag, and then it is theirs.
    for (let i = 0; i < 2; i++) {
      await new Promise((ok) => setTimeout(ok, claimSettleMs()));
      if ((await this.claimOf(repo, tag))?.owner !== this.id) return false;
    }
    return true;
  }

  private async claimOf(repo: Repo, tag: string): Promise<{ owner: string; at: number } | undefined> {
    const bytes = await this.manifestAt(repo, tag);
    if (bytes === undefined) return undefined;
    const annotations = (JSON.parse(new TextDecoder().decode(bytes)) as { annotations?: Record<string, string> }).annotations ?? {};
    const owner = annotations[PUBLISHER];
    const at = Number(annotations[CLAIMED_AT]);
    return owner !== undefined && Number.isFinite(at) ? { owner, at } : undefined;
  }

  /** The layer another builder claimed, once it is published (polled); null if it never is (its builder died). */
  private async awaitLayer(repo: Repo, diffId: Digest): Promise<Uint8Array | null> {
    const deadline = Date.now() + CLAIM_TTL_MS;
    while (Date.now() < deadline) {
      const entry = await this.entry(repo, layerTag(diffId));
      const d = entry?.layers[0];
      if (d) {
        try {
          return await this.layerBlob(repo, d, diffId);
        } catch (e) {
          this.refused(repo, layerTag(diffId), e);
          return null;
        }
      }
      await new Promise((ok) => setTimeout(ok, 50));
    }
    return null;
  }

  private async publish(
    repo: Repo,
    tag: string,
    config: { mediaType: string; bytes: Uint8Array },
    layers: Array<{ descriptor: Descriptor; bytes: Uint8Array }>,
    annotations?: Record<string, string>,
    artifactType = ARTIFACT_TYPE,
  ): Promise<void> {
    const scopes = [repositoryScope(repo.path, ['pull', 'push'])];
    const configDescriptor: Descriptor = { mediaType: config.mediaType, digest: digestOf(config.bytes), size: config.bytes.byteLength };
    const blobs = [{ descriptor: configDescriptor, bytes: config.bytes }, ...layers];
    const manifest = new TextEncoder().encode(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.manifest, artifactType, config: configDescriptor, layers: layers.map((l) => l.descriptor), ...(annotations ? { annotations } : {}) }),
    );
    await Promise.all(blobs.map((b) => this.pushOnce(repo, b.descriptor, b.bytes, scopes)));
    try {
      await repo.client.putManifest(repo.path, tag, manifest, MediaType.manifest, scopes);
    } catch (e) {
      // docker-registry can briefly not see a blob while another upload of the same bytes is committed (many
      // builders publish the same small config at once): push them again, then the manifest once more.
      if (!isPithError(e, 'REGISTRY_HTTP') || !/MANIFEST_BLOB_UNKNOWN/.test(e.message)) throw e;
      for (const b of blobs) this.pushed.delete(`${repo.name} ${b.descriptor.digest}`);
      await Promise.all(blobs.map((b) => this.pushOnce(repo, b.descriptor, b.bytes, scopes)));
      await repo.client.putManifest(repo.path, tag, manifest, MediaType.manifest, scopes);
    }
  }

  /** One upload per blob and repository in this builder, however many entries name it at once. */
  private pushOnce(repo: Repo, d: Descriptor, bytes: Uint8Array, scopes: readonly string[]): Promise<unknown> {
    const key = `${repo.name} ${d.digest}`;
    let pushing = this.pushed.get(key);
    if (!pushing) {
      pushing = pushBlob(repo.client, repo.path, { digest: d.digest, size: d.size, bytes: async () => bytes }, { scopes, stats: emptyStats() });
      pushing.catch(() => this.pushed.delete(key));
      this.pushed.set(key, pushing);
    }
    return pushing;
  }

  private refused(repo: Repo, tag: string, e: unknown): void {
    this.options.onWarning?.(`${repo.name}:${tag}: a cache entry was refused and is rebuilt (${(e as Error).message})`);
  }
}

/** The tag of one compressed layer: what decides its bytes, hashed (a tag is at most 128 characters). */
export function layerTag(diffId: string): string {
  return `pith-layer-${sha256Hex(`${GZIP_SETTINGS} ${diffId}`)}`;
}

/** The tag of a claim on compressing one layer. */
export function claimTag(diffId: string): string {
  return layerTag(diffId).replace(/^pith-layer-/, 'pith-claim-');
}
