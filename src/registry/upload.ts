/**
 * One blob into one repository, the way the distribution spec lays it out, made to survive a flaky network:
 *
 * 1. `HEAD` the blob: if the repository has it, nothing is sent.
 * 2. Cross-repository mount from repositories of the same registry known to hold it (`POST …?mount=&from=`):
 *    201 means done; 202 means the registry could not and opened an ordinary upload instead, which is used.
 * 3. Small blobs in one `PUT` of the whole body; larger ones in `PATCH` chunks, each with its `Content-Range`,
 *    keeping the registry's `Range` answers as the truth about how much it holds. A blob that can stream (a layer
 *    too large to hold, `Layer.stream`) is read from its stream one chunk ahead, so no more than a chunk of it is
 *    ever held; the descriptor's size says which of the two ways it goes.
 * 4. When a chunk fails (a dropped connection, a 5xx, a 429) the upload's status (`GET` on its URL) says how much
 *    arrived, and the upload resumes from there. A registry that has invalidated the upload (the CNCF registry does
 *    when a chunk broke off midway) gets a fresh upload; before that, and after a failed final `PUT`, a `HEAD`
 *    checks whether the blob landed after all. Every upload is idempotent, so this can always finish the job.
 */
import { isPithError, PithError } from '../errors.ts';
import { retryDelay, sleep } from '../net/fetch.ts';
import type { Digest } from '../oci/digest.ts';
import { noteBlob, type RegistryClient } from './client.ts';
import { concat, streamSource } from '../fs/tar.ts';

export interface BlobToPush {
  digest: Digest;
  size: number;
  bytes(): Promise<Uint8Array>;
  /** The bytes as `Layer.stream` hands them out (checked by the stream itself); preferred to `bytes()`. */
  stream?(): AsyncIterable<Uint8Array>;
}

export type BlobOutcome = 'skipped' | 'mounted' | 'uploaded';

export interface TransferStats {
  /** Blobs sent to the registry. */
  uploaded: number;
  /** Blobs the repository already had. */
  skipped: number;
  /** Blobs mounted from another repository of the same registry. */
  mounted: number;
  /** Blob bytes put on the wire, retries included. */
  bytesSent: number;
  /** Upload sessions that were resumed (status, then the rest) or started again after a failure. */
  resumed: number;
  restarted: number;
}

export function emptyStats(): TransferStats {
  return { uploaded: 0, skipped: 0, mounted: 0, bytesSent: 0, resumed: 0, restarted: 0 };
}

/** A failure worth another try: dropped connections, 5xx and 429 (the client marks them). */
function retryable(e: unknown): boolean {
  return isPithError(e) && e.details?.retryable === true;
}

/** Thrown inside an upload session to abandon it and start a fresh one. */
class SessionLost extends Error {}

/**
 * Uploads in flight in this process, by registry, repository and digest. A second push of the same blob (the empty
 * config of a signature and of an attestation written at once) waits for the first instead of uploading it again:
 * docker-registry, finishing two uploads of one digest in one repository together, can briefly report the blob
 * unknown to a manifest that needs it (MANIFEST_BLOB_UNKNOWN).
 */
const uploading = new Map<string, Promise<BlobOutcome>>();

export async function pushBlob(
  client: RegistryClient,
  repository: string,
  blob: BlobToPush,
  options: { scopes: readonly string[]; mountFrom?: readonly string[]; stats: TransferStats },
): Promise<BlobOutcome> {
  const { stats, scopes } = options;
  const key = `${client.domain}/${repository}@${blob.digest}`;
  const running = uploading.get(key);
  let outcome: BlobOutcome;
  if (running && (await running.then(() => true, () => false))) {
    outcome = 'skipped';
  } else {
    const upload = pushBlobOnce(client, repository, blob, scopes, options.mountFrom ?? [], stats);
    uploading.set(key, upload);
    try {
      outcome = await upload;
    } finally {
      if (uploading.get(key) === upload) uploading.delete(key);
    }
  }
  noteBlob(client, repository, blob.digest);
  stats[outcome]++;
  return outcome;
}

async function pushBlobOnce(
  client: RegistryClient,
  repository: string,
  blob: BlobToPush,
  scopes: readonly string[],
  mountFrom: readonly string[],
  stats: TransferStats,
): Promise<BlobOutcome> {
  if (await client.blobExists(repository, blob.digest, scopes)) return 'skipped';
  let location: string | undefined;
  for (const from of mountFrom.filter((r) => r !== repository).slice(0, 3)) {
    const started = await startUpload(client, repository, blob.digest, scopes, from);
    if (started === 'mounted') return 'mounted';
    location = started;
    break;
  }
  const data = blob.stream ? undefined : await blob.bytes();
  const attempts = Math.max(1, client.options.retry?.attempts ?? 6);
  for (let session = 1; ; session++) {
    // A streamed blob is read from its start again in each session.
    const reader = data ? bytesReader(data) : streamReader(blob.stream!());
    try {
      location ??= (await startUpload(client, repository, blob.digest, scopes)) as string;
      if (blob.size <= client.chunkSize) {
        await finish(client, location, blob, scopes, await reader.read(0, blob.size), stats);
      } else {
        location = await sendChunks(client, location, blob, scopes, reader, stats);
        await finish(client, location, blob, scopes, undefined, stats);
      }
      return 'uploaded';
    } catch (e) {
      // 404: the registry forgot the upload (expired, purged, or invalidated by a chunk that broke off).
      const lost = e instanceof SessionLost || (isPithError(e) && e.details?.status === 404);
      if (!lost && !retryable(e)) throw e;
      if (session >= attempts) {
        throw new PithError('REGISTRY_UPLOAD_FAILED', `expected to upload ${blob.digest} (${blob.size} bytes) to ${client.domain}/${repository}, gave up after ${attempts} upload sessions: ${(e as Error).message}`, { cause: e });
      }
      // The last answer may have been lost after the registry stored the blob.
      if (await client.blobExists(repository, blob.digest, scopes)) return 'uploaded';
      stats.restarted++;
      location = undefined;
      const delayMs = retryDelay(session, client.options.retry?.baseDelayMs ?? 250);
      client.options.onRetry?.({ what: `the upload of ${blob.digest} to ${client.domain}/${repository}`, attempt: session, reason: `${(e as Error).message}; starting a new upload`, delayMs });
      await sleep(delayMs);
    } finally {
      await reader.close();
    }
  }
}

/** A blob's bytes by range, for one upload session. */
interface BlobReader {
  /** Bytes `from` to `to` (fewer where the blob ends); SessionLost when they are behind what can still be read. */
  read(from: number, to: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

function bytesReader(data: Uint8Array): BlobReader {
  return { read: async (from, to) => data.subarray(from, to), close: async () => undefined };
}

/**
 * A stream read forward, holding only the range last asked for (one buffer of at most a chunk): a chunk the registry
 * did not take can be sent again from there, and anything before it only in a fresh session (a fresh stream).
 */
function streamReader(chunks: AsyncIterable<Uint8Array>): BlobReader {
  const source = streamSource(chunks);
  /** The bytes from offset `start` up to `taken`, what the stream has handed out so far. */
  let held: Uint8Array = new Uint8Array(0);
  let start = 0;
  let taken = 0;
  return {
    async read(from, to) {
      if (from < start) throw new SessionLost(`bytes from ${from} on are no longer held, the stream is at ${start}`);
      if (from > taken) taken += await source.skip(from - taken);
      const kept = from < taken ? held.subarray(from - start) : new Uint8Array(0);
      const fresh = to > taken ? await source.read(to - taken) : new Uint8Array(0);
      taken += fresh.byteLength;
      held = kept.byteLength === 0 ? fresh : fresh.byteLength === 0 ? kept : concat([kept, fresh]);
      start = from;
      return held.subarray(0, Math.max(0, to - from));
    },
    close: async () => source.close?.(),
  };
}

/** POST to open an upload (or mount); resolves with the upload URL, or 'mounted'. */
async function startUpload(client: RegistryClient, repository: string, digest: Digest, scopes: readonly string[], from?: string): Promise<string | 'mounted'> {
  const query = from === undefined ? '' : `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
  const res = await client.request({
    method: 'POST', url: `/v2/${repository}/blobs/uploads/${query}`, scopes, ok: [201, 202],
    what: from === undefined ? `the start of the upload of ${digest} to ${client.domain}/${repository}` : `the mount of ${digest} from ${from} into ${client.domain}/${repository}`,
  });
  await res.body?.cancel();
  if (res.status === 201) return 'mounted';
  return locationOf(client, res, `the start of the upload of ${digest} to ${client.domain}/${repository}`);
}

async function locationOf(client: RegistryClient, res: Response, what: string): Promise<string> {
  const location = res.headers.get('location');
  if (!location) throw new PithError('REGISTRY_BAD_RESPONSE', `${what}: expected a Location header in the ${res.status} answer, found none`);
  return new URL(location, await client.base()).href;
}

function withDigest(location: string, digest: Digest): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

/**
 * How many bytes a `Range: 0-N` header says the registry holds. The CNCF registry answers "0-0" for an empty
 * upload as well as for one byte; chunks are at least 64 KiB, so here "0-0" can only mean nothing yet.
 */
function heldBytes(range: string | null): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec(range?.trim() ?? '');
  if (!m) return undefined;
  const end = Number(m[1]);
  return end === 0 ? 0 : end + 1;
}

async function sendChunks(client: RegistryClient, location: string, blob: BlobToPush, scopes: readonly string[], data: BlobReader, stats: TransferStats): Promise<string> {
  let offset = 0;
  let failures = 0;
  const attempts = Math.max(1, client.options.retry?.attempts ?? 6);
  while (offset < blob.size) {
    const end = Math.min(offset + client.chunkSize, blob.size);
    const body = await data.read(offset, end);
    if (body.byteLength !== end - offset) {
      throw new PithError('REGISTRY_UPLOAD_FAILED', `expected ${blob.digest} to be ${blob.size} bytes long, as its descriptor says, found it ends at ${offset + body.byteLength}`);
    }
    try {
      stats.bytesSent += end - offset;
      const res = await client.request({
        method: 'PATCH', url: location, body, scopes, ok: [202], retry: false,
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${end - 1}` },
        what: `bytes ${offset}-${end - 1} of ${blob.digest} to ${client.domain}`,
      });
      await res.body?.cancel();
      location = res.headers.get('location') ? await locationOf(client, res, 'a chunk') : location;
      offset = heldBytes(res.headers.get('range')) ?? end;
    } catch (e) {
      const outOfStep = isPithError(e) && e.details?.status === 416;
      if (!retryable(e) && !outOfStep) throw e;
      if (++failures >= attempts) throw e;
      const delayMs = retryDelay(failures, client.options.retry?.baseDelayMs ?? 250, isPithError(e) ? (e.details?.retryAfterMs as number | undefined) : undefined);
      client.options.onRetry?.({ what: `bytes ${offset}-${end - 1} of ${blob.digest}`, attempt: failures, reason: `${(e as Error).message}; resuming where the registry says it stands`, delayMs });
      await sleep(delayMs);
      const status = await uploadStatus(client, location, blob.digest, scopes);
      if (status === undefined) throw new SessionLost(`the registry no longer knows the upload of ${blob.digest}`);
      stats.resumed++;
      ({ location, offset } = status);
    }
  }
  return location;
}

/** Where an upload stands (`GET` on its URL), or undefined when the registry has dropped or invalidated it. */
async function uploadStatus(client: RegistryClient, location: string, digest: Digest, scopes: readonly string[]): Promise<{ location: string; offset: number } | undefined> {
  try {
    const res = await client.request({ method: 'GET', url: location, scopes, ok: [204], what: `the status of the upload of ${digest}` });
    await res.body?.cancel();
    const offset = heldBytes(res.headers.get('range'));
    if (offset === undefined) return undefined;
    return { location: res.headers.get('location') ? await locationOf(client, res, 'an upload status') : location, offset };
  } catch (e) {
    if (isPithError(e) && typeof e.details?.status === 'number' && e.details.status >= 400 && e.details.status < 500) return undefined;
    throw e;
  }
}

/** The closing `PUT …?digest=`, with the whole body for a one-request upload. */
async function finish(client: RegistryClient, location: string, blob: BlobToPush, scopes: readonly string[], body: Uint8Array | undefined, stats: TransferStats): Promise<void> {
  if (body) stats.bytesSent += body.byteLength;
  const res = await client.request({
    method: 'PUT', url: withDigest(location, blob.digest), body: body ?? new Uint8Array(0), scopes, ok: [201, 204], retry: false,
    headers: { 'content-type': 'application/octet-stream' },
    what: `the ${body ? 'upload' : 'completion of the upload'} of ${blob.digest} (${blob.size} bytes) to ${client.domain}`,
  });
  await res.body?.cancel();
  const stated = res.headers.get('docker-content-digest');
  if (stated?.startsWith('sha256:') && stated !== blob.digest) {
    throw new PithError('REGISTRY_DIGEST_MISMATCH', `expected ${client.domain} to store the blob as ${blob.digest}, it answered ${stated}`);
  }
}
