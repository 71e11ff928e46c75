/**
 * Reading an image or index from a registry into the `Image`/`ImageIndex` model, so it can be written to any
 * transport (`pith pull`, `pith copy`). Manifests, indexes and configs are fetched when the image is opened;
 * layers when a writer asks for their bytes. Every manifest and blob is checked against its digest and size on
 * arrival: a registry (or anything between) that sends other bytes is refused with REGISTRY_DIGEST_MISMATCH.
 *
 * The mirrors registries.conf lists for the reference are asked first, in order; the first that serves the top
 * manifest serves the whole image, and one that cannot (not there, unreachable, refusing) hands over to the next
 * and last to the location. A mirror that sends bytes other than the digests name is not passed over: the pull
 * stops with REGISTRY_DIGEST_MISMATCH naming it, since a lying mirror is something to fix, not to route around.
 */
import { isPithError, PithError, type ErrorCode } from '../errors.ts';
import { MediaType, DockerMediaType, type Descriptor, type Digest } from '../oci/digest.ts';
import { isImageIndex, type Image, type ImageIndex } from '../oci/image.ts';
import { readGraph, type ContentSource } from '../oci/read.ts';
import { formatReference, manifestReference, parseReference, type Reference } from '../oci/reference.ts';
import { repositoryScope } from './auth.ts';
import { noteBlob, RegistryClient, registriesConfOf, type RegistryOptions } from './client.ts';
import { pullEndpoints } from './registries-conf.ts';
import { gatherChunks } from '../oci/blob-stream.ts';

const KNOWN_TYPES: ReadonlySet<string> = new Set([MediaType.manifest, MediaType.index, DockerMediaType.manifest, DockerMediaType.manifestList]);

export interface RemoteOrigin {
  domain: string;
  repository: string;
}

/** The registry and repository an image was read from, so a push to the same registry can mount its blobs. */
const origins = new WeakMap<Image | ImageIndex, RemoteOrigin>();

export function remoteOrigin(x: Image | ImageIndex): RemoteOrigin | undefined {
  return origins.get(x);
}

export async function readRemote(reference: string | Reference, options: RegistryOptions = {}): Promise<Image | ImageIndex> {
  const logical = typeof reference === 'string' ? parseReference(reference) : reference;
  const { client, ref, scopes, top } = await firstServing(logical, options);
  const blobs = new Prefetcher((d) => client.getBlob(ref.path, d, scopes), (d) => client.streamBlob(ref.path, d, scopes), client.jobs, options.prefetchBytes ?? PREFETCH_BUDGET);
  const source: ContentSource = {
    where: `docker://${formatReference(ref)}`,
    manifest: async (d) => (await client.getManifest(ref.path, d.digest, scopes, d)).bytes,
    blob: (d) => blobs.get(d),
    stream: (d) => blobs.stream(d),
  };
  const x = await readGraph(
    { mediaType: KNOWN_TYPES.has(top.mediaType) ? top.mediaType : '', digest: top.digest, size: top.bytes.byteLength },
    top.bytes,
    source,
  );
  const origin = { domain: ref.domain, repository: ref.path };
  origins.set(x, origin);
  for (const img of isImageIndex(x) ? x.images : [x]) {
    origins.set(img, origin);
    const digests: Digest[] = [img.manifest.config.digest, ...img.layers.map((l) => l.digest)];
    for (const d of digests) noteBlob(client, ref.path, d);
    blobs.enqueue(img.layers);
  }
  return x;
}

/** Failures that pass on to the next endpoint: a registry that lies about content does not. */
const PASS_ON: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['REGISTRY_NOT_FOUND', 'REGISTRY_CONNECTION', 'REGISTRY_HTTP', 'REGISTRY_UNAUTHORIZED', 'REGISTRY_DENIED', 'REGISTRY_AUTH_CHALLENGE']);

/** The first endpoint (mirrors, then the location) that serves the reference's top manifest. */
async function firstServing(logical: Reference, options: RegistryOptions) {
  const endpoints = pullEndpoints(await registriesConfOf(options), logical);
  const failures: string[] = [];
  for (const [i, e] of endpoints.entries()) {
    const ref = e.reference;
    const client = RegistryClient.forEndpoint(e, logical, options);
    const scopes = [repositoryScope(ref.path, ['pull'])];
    try {
      return { client, ref, scopes, top: await client.getManifest(ref.path, manifestReference(ref), scopes) };
    } catch (err) {
      if (!isPithError(err) || !PASS_ON.has(err.code)) throw err;
      if (i === endpoints.length - 1) {
        if (failures.length === 0) throw err;
        throw new PithError(err.code, `${err.message} (after ${failures.join('; ')})`, { cause: err, details: err.details });
      }
      failures.push(`${e.description}: ${err.message}`);
      options.onRetry?.({ what: `the pull of ${formatReference(logical)}`, attempt: i + 1, reason: `${e.description} failed: ${err.message}`, delayMs: 0, next: endpoints[i + 1]!.description });
    }
  }
  throw new Error('unreachable: pullEndpoints always ends with the location');
}

/** Bytes of layers downloaded ahead of the writer and not yet handed to it, at most. */
const PREFETCH_BUDGET = 256 << 20;

/**
 * Layer downloads for one image: once a writer asks for a layer, the layers after it in manifest order start
 * downloading too — up to `jobs` transfers at a time, counting the writer's own streams, while what waits unclaimed
 * stays under a memory budget — so a writer that takes layers one at a time (an archive) still gets them over
 * parallel connections, and one that streams `jobs` layers at once (a layout) gets nothing extra. A layer larger
 * than the budget is never fetched ahead: it is streamed when it is asked for. Each prefetched body is handed out
 * once and then forgotten; anything not queued (the configs, read as the image opens) is fetched when asked for.
 */
class Prefetcher {
  private queue: Array<Pick<Descriptor, 'digest' | 'size'>> = [];
  private readonly started = new Map<Digest, { size: number; bytes: Promise<Uint8Array> }>();
  private held = 0;
  private active = 0;

  constructor(
    private readonly fetch: (d: Pick<Descriptor, 'digest' | 'size'>) => Promise<Uint8Array>,
    private readonly open: (d: Pick<Descriptor, 'digest' | 'size'>) => AsyncIterable<Uint8Array>,
    private readonly jobs: number,
    private readonly budget: number,
  ) {}

  enqueue(ds: ReadonlyArray<Pick<Descriptor, 'digest' | 'size'>>): void {
    for (const d of ds) if (d.size <= this.budget && !this.queue.some((q) => q.digest === d.digest)) this.queue.push({ digest: d.digest, size: d.size });
  }

  get(d: Pick<Descriptor, 'digest' | 'size'>): Promise<Uint8Array> {
    const bytes = this.take(d) ?? this.fetch(d);
    this.pump();
    return bytes;
  }

  /** The blob as it arrives; handed out whole when it was fetched ahead. */
  async *stream(d: Pick<Descriptor, 'digest' | 'size'>): AsyncGenerator<Uint8Array> {
    const early = this.take(d);
    if (early) {
      this.pump();
      yield await early;
      return;
    }
    this.active++;
    this.pump();
    try {
      yield* this.open(d);
    } finally {
      this.active--;
      this.pump();
    }
  }

  /** The download started ahead for `d`, if any; `d` is no longer queued either way. */
  private take(d: Pick<Descriptor, 'digest'>): Promise<Uint8Array> | undefined {
    const early = this.started.get(d.digest);
    this.queue = this.queue.filter((q) => q.digest !== d.digest);
    if (!early) return undefined;
    this.started.delete(d.digest);
    this.held -= early.size;
    return early.bytes;
  }

  private pump(): void {
    while (this.queue.length > 0 && this.active < this.jobs && this.held + this.queue[0]!.size <= this.budget) {
      const d = this.queue.shift()!;
      this.active++;
      this.held += d.size;
      // Streamed (a body that breaks off resumes with a Range request) and gathered: the writer wants it whole soon.
      const bytes = gatherChunks(this.open(d)).finally(() => {
        this.active--;
        this.pump();
      });
      // A failed download is reported to the writer that asks for the layer, not as an unhandled rejection.
      bytes.catch(() => undefined);
      this.started.set(d.digest, { size: d.size, bytes });
    }
  }
}
