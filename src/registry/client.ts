/**
 * The HTTP side of the OCI distribution API, on Node's built-in `fetch`: one `RegistryClient` per registry (and
 * repository, for per-repository credentials) finds the scheme, authenticates, retries, and turns answers into
 * bytes that are checked against their digests or into errors that name the registry, the repository and the
 * request.
 *
 * - Endpoints: a reference names a registry as the user knows it; registries.conf (registries-conf.ts) says
 *   which registry, and namespace in it, really serves it, and which mirrors to try first for pulls. A client is
 *   named by that registry (its credentials, its messages) and sends its requests to the registry's API host,
 *   which differs only for docker.io (registryApiHost).
 * - Scheme: HTTPS; plain HTTP only for loopback registries, those named in `insecure` and those registries.conf
 *   marks `insecure` (as docker and podman allow), and then only after HTTPS failed to connect.
 * - Retries: connection failures, 5xx and 429 are retried with exponential backoff and full jitter, honouring
 *   Retry-After; a host name that does not resolve is not (net/fetch.ts's classifyNetworkError). Requests whose
 *   effect must be checked before repeating them (an upload chunk) pass `retry: false` and get a `retryable`
 *   error to act on.
 */
import { createHash } from 'node:crypto';
import { isPithError, PithError } from '../errors.ts';
import { checkJobs } from '../net/bounded.ts';
import { classifyNetworkError, describeNetworkError, parseRetryAfter, retryDelay, sleep } from '../net/fetch.ts';
import { digestOf, type Descriptor, type Digest } from '../oci/digest.ts';
import { checkContent, checkDigest } from '../oci/read.ts';
import { concat } from '../fs/tar.ts';
import type { Reference } from '../oci/reference.ts';
import { Authenticator, isLoopbackHost } from './auth.ts';
import { findCredentials, type Credentials } from './credentials.ts';
import { loadRegistriesConf, primaryEndpoint, registryApiHost, type Endpoint, type RegistriesConf } from './registries-conf.ts';

export interface RegistryOptions {
  /** Registries (host[:port]) that may be reached over plain HTTP besides loopback ones. */
  insecure?: readonly string[];
  /** Where references are really served from; default: the machine's containers-registries.conf, read once. */
  registriesConf?: RegistriesConf;
  /** The main registries.conf file to read instead of $CONTAINERS_REGISTRIES_CONF or the default one. */
  registriesConfFile?: string;
  /** Where credentials are looked up (DOCKER_CONFIG, HOME, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, PATH). */
  env?: NodeJS.ProcessEnv;
  /** Use these instead of looking any up. */
  credentials?: Credentials;
  /** Blob transfers in parallel (default 4). */
  jobs?: number;
  /**
   * Bytes of layers a pull downloads ahead of its reader and holds until asked for (default 256 MiB); 0 streams every
   * layer only as it is read, for a reader that must never hold a layer whole (`pith serve` reading many images).
   */
  prefetchBytes?: number;
  /** Blobs up to this size go in one PUT, larger ones in PATCH chunks of this size (default 32 MiB). */
  chunkSize?: number;
  /** Attempts per request, the first included (default 6), and the first backoff (default 250 ms). */
  retry?: { attempts?: number; baseDelayMs?: number };
  /** Told about every retry, for a warning on stderr. */
  onRetry?: (event: RetryEvent) => void;
}

export interface RetryEvent {
  what: string;
  attempt: number;
  reason: string;
  delayMs: number;
  /** Set when the next attempt goes elsewhere (the next mirror, or the location after the mirrors). */
  next?: string;
}

export type Method = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface RegistryRequest {
  method: Method;
  /** A path ("/v2/…") or an absolute URL the registry handed out (an upload's Location). */
  url: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** Token scopes the request needs, e.g. "repository:team/app:pull,push". */
  scopes: readonly string[];
  /** Statuses the caller handles; any other is an error. */
  ok: readonly number[];
  /** Retry failures (default true). */
  retry?: boolean;
  /** For messages, e.g. "the upload of sha256:… to team/app". */
  what: string;
}

export const ACCEPT_MANIFESTS = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

const clients = new WeakMap<RegistryOptions, Map<string, RegistryClient>>();
const confs = new WeakMap<RegistryOptions, Promise<RegistriesConf>>();
const DEFAULT_OPTIONS: RegistryOptions = {};

/** The registries configuration these options use: theirs, else the machine's, read once per options object. */
export function registriesConfOf(options: RegistryOptions): Promise<RegistriesConf> {
  if (options.registriesConf) return Promise.resolve(options.registriesConf);
  let conf = confs.get(options);
  if (!conf) confs.set(options, (conf = loadRegistriesConf({ env: options.env, file: options.registriesConfFile })));
  return conf;
}

export interface EndpointOptions {
  /** Plain HTTP allowed for this client, as registries.conf says. */
  insecure?: boolean;
  /** Looked up when the registry itself has no credentials: those of the name the user gave (host/repository). */
  credentialsOf?: { domain: string; repository?: string };
}

export class RegistryClient {
  readonly auth: Authenticator;
  /** host[:port] of the API: `domain`, or Docker Hub's API host for docker.io. */
  readonly host: string;
  private baseUrl: Promise<string> | undefined;

  private constructor(readonly domain: string, readonly options: RegistryOptions, repository: string | undefined, private readonly endpoint: EndpointOptions) {
    this.host = registryApiHost(domain);
    const env = options.env ?? process.env;
    const also = endpoint.credentialsOf;
    let creds: Promise<Credentials | undefined> | undefined;
    const lookup = async () => (await findCredentials(domain, repository, env)) ?? (also ? findCredentials(also.domain, also.repository, env) : undefined);
    this.auth = new Authenticator(
      domain,
      () => (creds ??= options.credentials ? Promise.resolve(options.credentials) : lookup()),
      (url, init, what) => this.send(url, init, what, true),
    );
  }

  /** The client for a registry, shared by every caller with the same options object. */
  static open(domain: string, options: RegistryOptions = DEFAULT_OPTIONS, repository?: string, endpoint: EndpointOptions = {}): RegistryClient {
    let byKey = clients.get(options);
    if (!byKey) clients.set(options, (byKey = new Map()));
    const also = endpoint.credentialsOf;
    const key = `${domain}/${repository ?? ''} ${endpoint.insecure ? 'insecure' : ''} ${also ? `${also.domain}/${also.repository ?? ''}` : ''}`;
    let client = byKey.get(key);
    if (!client) byKey.set(key, (client = new RegistryClient(domain, options, repository, endpoint)));
    return client;
  }

  /**
   * The client for one endpoint of a reference the user named (`logical`). A remapped location may also use the
   * credentials saved for the name the user gave (as `docker login` saved them); a mirror only its own.
   */
  static forEndpoint(e: Endpoint, logical: Reference, options: RegistryOptions = DEFAULT_OPTIONS): RegistryClient {
    const moved = e.reference.domain !== logical.domain || e.reference.path !== logical.path;
    return RegistryClient.open(e.reference.domain, options, e.reference.path, {
      insecure: e.insecure,
      ...(moved && !e.mirror ? { credentialsOf: { domain: logical.domain, repository: logical.path } } : {}),
    });
  }

  /** The client and the physical reference for pushing to (or reading without mirrors) what the user named. */
  static async primary(logical: Reference, options: RegistryOptions = DEFAULT_OPTIONS, action?: string): Promise<{ client: RegistryClient; ref: Reference; endpoint: Endpoint }> {
    const endpoint = primaryEndpoint(await registriesConfOf(options), logical, action);
    return { client: RegistryClient.forEndpoint(endpoint, logical, options), ref: endpoint.reference, endpoint };
  }

  get jobs(): number {
    return checkJobs(this.options.jobs ?? 4, 'registry jobs (blobs transferred in parallel)');
  }

  get chunkSize(): number {
    return Math.max(1 << 16, this.options.chunkSize ?? 32 << 20);
  }

  /** "https://host" or "http://host", found by pinging /v2/ once; the ping's challenge primes authentication. */
  base(): Promise<string> {
    this.baseUrl ??= this.ping();
    return this.baseUrl;
  }

  private async ping(): Promise<string> {
    const host = this.host.replace(/:\d+$/, '');
    const http = isLoopbackHost(host) || this.endpoint.insecure === true || (this.options.insecure ?? []).includes(this.domain) || (this.options.insecure ?? []).includes(this.host);
    const what = `the API version check of ${this.domain}`;
    const answer = async (base: string, retry: boolean) => {
      const res = await this.send(`${base}/v2/`, { method: 'GET' }, what, retry);
      await res.body?.cancel();
      if (res.status === 401) this.auth.observe(res.headers.get('www-authenticate'));
      else if (!res.ok) {
        throw new PithError('REGISTRY_HTTP', `expected ${base}/v2/ to answer 200 or 401 (${what}), found ${res.status} ${res.statusText}: ${this.host} answered, but not as a registry API (the distribution API's /v2/); if ${this.domain}'s registry is served from another host, map it there in registries.conf`);
      }
      return base;
    };
    try {
      return await answer(`https://${this.host}`, !http);
    } catch (e) {
      if (!isPithError(e, 'REGISTRY_CONNECTION')) throw e;
      // The name resolves no better for plain HTTP, and no scheme is to blame.
      if (e.details?.unresolved !== undefined) throw e;
      if (http) return answer(`http://${this.host}`, true);
      throw new PithError('REGISTRY_CONNECTION', `${e.message}; plain HTTP is used only for localhost, 127.0.0.0/8, ::1, registries named with --insecure and those registries.conf marks insecure`, { cause: e, details: e.details });
    }
  }

  /**
   * `fetch` with retries on connection failures, 5xx and 429 (when `retry`); any status is returned. A host name
   * that does not resolve ends the attempts early (classifyNetworkError), and its error says so rather than
   * counting attempts.
   */
  async send(url: string, init: RequestInit, what: string, retry: boolean): Promise<Response> {
    const attempts = retry ? Math.max(1, this.options.retry?.attempts ?? 6) : 1;
    const base = this.options.retry?.baseDelayMs ?? 250;
    for (let attempt = 1; ; attempt++) {
      let reason: string;
      let retryAfter: number | undefined;
      try {
        const res = await fetch(url, { ...init, ...uncopiedBody(init), redirect: 'follow' });
        if (attempt >= attempts || (res.status !== 429 && res.status < 500)) return res;
        await res.body?.cancel();
        reason = `${res.status} ${res.statusText}`;
        const ra = res.headers.get('retry-after');
        if (ra !== null) retryAfter = parseRetryAfter(ra);
      } catch (e) {
        const failure = classifyNetworkError(e);
        if (attempt >= Math.min(attempts, failure.attempts)) {
          const request = `${what}: ${init.method ?? 'GET'} ${redact(url)} failed`;
          const message = failure.unresolved === undefined
            ? `${request}${attempt > 1 ? ` after ${attempt} attempts` : ''} (${failure.description})`
            : `${request}: ${failure.description}${attempt > 1 ? `, ${attempt} attempts` : attempts > 1 ? ', not retried' : ''}`;
          throw new PithError('REGISTRY_CONNECTION', message, {
            cause: e,
            details: failure.unresolved === undefined ? { retryable: true } : { retryable: false, unresolved: failure.unresolved },
          });
        }
        reason = failure.description;
      }
      const delayMs = retryDelay(attempt, base, retryAfter);
      this.options.onRetry?.({ what, attempt, reason, delayMs });
      await sleep(delayMs);
    }
  }

  /**
   * A request with authentication: the header for its scopes, and after a 401 one fresh token (or the basic
   * credentials the registry now asks for) and one more try. A status outside `ok` is a PithError carrying the
   * registry's own error codes.
   */
  async request(r: RegistryRequest): Promise<Response> {
    const base = await this.base();
    const url = new URL(r.url, base).href;
    const sameOrigin = new URL(url).origin === new URL(base).origin;
    for (let authTries = 0; ; authTries++) {
      const headers: Record<string, string> = { ...r.headers };
      const authorization = sameOrigin ? await this.auth.header(r.scopes) : undefined;
      if (authorization) headers.authorization = authorization;
      const res = await this.send(url, { method: r.method, headers, body: r.body as BodyInit | undefined }, r.what, r.retry ?? true);
      if (res.status === 401 && authTries === 0 && sameOrigin && (await this.auth.refresh(res.headers.get('www-authenticate'), r.scopes, authorization))) {
        await res.body?.cancel();
        continue;
      }
      if (r.ok.includes(res.status)) return res;
      throw await this.errorFor(r, url, res);
    }
  }

  private async errorFor(r: RegistryRequest, url: string, res: Response): Promise<PithError> {
    const text = r.method === 'HEAD' ? '' : await res.text().catch(() => '');
    let codes = '';
    try {
      const errors = (JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> }).errors ?? [];
      codes = errors.map((e) => `${e.code ?? '?'}${e.message ? `: ${e.message}` : ''}`).join('; ');
    } catch {
      codes = text.trim().slice(0, 200);
    }
    const code = res.status === 401 ? 'REGISTRY_UNAUTHORIZED' : res.status === 403 ? 'REGISTRY_DENIED' : res.status === 404 ? 'REGISTRY_NOT_FOUND' : 'REGISTRY_HTTP';
    const hint = res.status === 401 || res.status === 403 ? `; check the credentials for ${this.domain} (\`pith login ${this.domain}\`)` : '';
    const ra = res.headers.get('retry-after');
    return new PithError(code, `${r.what}: expected ${r.ok.join(' or ')} from ${r.method} ${redact(url)}, found ${res.status} ${res.statusText}${codes ? ` (${codes})` : ''}${hint}`, {
      details: { status: res.status, retryable: res.status === 429 || res.status >= 500, ...(ra !== null ? { retryAfterMs: parseRetryAfter(ra) } : {}) },
    });
  }

  /**
   * A GET whose whole body is wanted, refused as soon as it grows past `limit` bytes (a registry cannot make pith
   * hold more than the descriptor promised): a connection that drops while the body arrives is retried like one
   * that drops before the answer.
   */
  async getBytes(r: Omit<RegistryRequest, 'method'>, limit: number): Promise<{ bytes: Uint8Array; res: Response; digest: Digest }> {
    const attempts = Math.max(1, this.options.retry?.attempts ?? 6);
    for (let attempt = 1; ; attempt++) {
      const res = await this.request({ ...r, method: 'GET' });
      try {
        return { ...(await readLimited(res, limit, `${r.what} (${this.domain})`)), res };
      } catch (e) {
        if (isPithError(e)) throw e;
        if (attempt >= attempts) throw new PithError('REGISTRY_CONNECTION', `${r.what}: the body broke off after ${attempts} attempts (${describeNetworkError(e)})`, { cause: e });
        const delayMs = retryDelay(attempt, this.options.retry?.baseDelayMs ?? 250);
        this.options.onRetry?.({ what: r.what, attempt, reason: describeNetworkError(e), delayMs });
        await sleep(delayMs);
      }
    }
  }

  // ------------------------------------------------------------------------------------------- API operations

  async blobExists(repository: string, digest: Digest, scopes: readonly string[]): Promise<boolean> {
    const res = await this.request({ method: 'HEAD', url: `/v2/${repository}/blobs/${digest}`, scopes, ok: [200, 404], what: `the check for ${digest} in ${this.domain}/${repository}` });
    await res.body?.cancel();
    return res.status === 200;
  }

  /** A blob's bytes, refused unless they are exactly what the descriptor names. */
  async getBlob(repository: string, d: Pick<Descriptor, 'digest' | 'size'>, scopes: readonly string[]): Promise<Uint8Array> {
    const url = `/v2/${repository}/blobs/${d.digest}`;
    const { bytes, digest } = await this.getBytes({ url, scopes, ok: [200], what: `the download of ${d.digest} from ${this.domain}/${repository}` }, d.size);
    return checkContent(bytes, d, 'REGISTRY_DIGEST_MISMATCH', `${this.domain}/${repository} (GET ${url}): the registry sent other bytes than the digest names`, digest);
  }

  /**
   * A blob's bytes as they arrive, for a writer that stores them without holding them whole (`Layer.stream`):
   * hashed on the way, refused (REGISTRY_TOO_LARGE) as soon as they pass the descriptor's size, and the iteration
   * throws REGISTRY_DIGEST_MISMATCH before it ends unless they are exactly what the descriptor names. A body that
   * breaks off is picked up where it broke (a Range request; from the start, skipping what arrived, when the
   * registry answers the whole blob instead).
   */
  async *streamBlob(repository: string, d: Pick<Descriptor, 'digest' | 'size'>, scopes: readonly string[]): AsyncGenerator<Uint8Array> {
    const url = `/v2/${repository}/blobs/${d.digest}`;
    const what = `the download of ${d.digest} from ${this.domain}/${repository}`;
    const attempts = Math.max(1, this.options.retry?.attempts ?? 6);
    const hash = createHash('sha256');
    let received = 0;
    for (let attempt = 1; ; attempt++) {
      const res = await this.request({ method: 'GET', url, scopes, ok: received === 0 ? [200] : [200, 206], what, ...(received === 0 ? {} : { headers: { range: `bytes=${received}-` } }) });
      let skip = res.status === 206 ? 0 : received;
      if (res.status === 206 && !(res.headers.get('content-range') ?? '').startsWith(`bytes ${received}-`)) {
        await res.body?.cancel();
        throw new PithError('REGISTRY_BAD_RESPONSE', `${what}: asked for the bytes from ${received} on, the registry sent ${res.headers.get('content-range') ?? 'no Content-Range'}`);
      }
      try {
        for await (const chunk of (res.body ?? []) as AsyncIterable<Uint8Array>) {
          let c = chunk;
          if (skip > 0) {
            const dropped = Math.min(skip, c.byteLength);
            skip -= dropped;
            c = c.subarray(dropped);
            if (c.byteLength === 0) continue;
          }
          received += c.byteLength;
          if (received > d.size) {
            await res.body?.cancel().catch(() => undefined);
            throw new PithError('REGISTRY_TOO_LARGE', `${what} (${this.domain}): expected at most ${d.size} bytes, the registry sends more`);
          }
          hash.update(c);
          yield c;
        }
        break;
      } catch (e) {
        if (isPithError(e)) throw e;
        if (attempt >= attempts) throw new PithError('REGISTRY_CONNECTION', `${what}: the body broke off after ${attempts} attempts (${describeNetworkError(e)})`, { cause: e });
        const delayMs = retryDelay(attempt, this.options.retry?.baseDelayMs ?? 250);
        this.options.onRetry?.({ what, attempt, reason: `${describeNetworkError(e)}; resuming at byte ${received}`, delayMs });
        await sleep(delayMs);
      }
    }
    checkDigest(d, `sha256:${hash.digest('hex')}`, received, 'REGISTRY_DIGEST_MISMATCH', `${this.domain}/${repository} (GET ${url}): the registry sent other bytes than the digest names`);
  }

  /**
   * A manifest or index by tag or digest, with its digest: by digest the bytes must hash to it; by tag they must
   * hash to the Docker-Content-Digest the registry states (when it states one), else the registry is lying.
   */
  async getManifest(repository: string, reference: string, scopes: readonly string[], expected?: Pick<Descriptor, 'digest' | 'size'>): Promise<{ bytes: Uint8Array; digest: Digest; mediaType: string }> {
    const url = `/v2/${repository}/manifests/${reference}`;
    const where = `${this.domain}/${repository} (GET ${url})`;
    const { bytes, res, digest } = await this.getBytes({ url, scopes, ok: [200], headers: { accept: ACCEPT_MANIFESTS }, what: `the manifest ${reference} of ${this.domain}/${repository}` }, expected?.size ?? MANIFEST_LIMIT);
    const stated = res.headers.get('docker-content-digest');
    const want = expected ?? (reference.startsWith('sha256:') ? { digest: reference as Digest, size: bytes.byteLength } : stated?.startsWith('sha256:') ? { digest: stated as Digest, size: bytes.byteLength } : undefined);
    if (want) checkContent(bytes, want, 'REGISTRY_DIGEST_MISMATCH', `${where}: the registry sent a manifest other than the one its digest names`, digest);
    const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    return { bytes, digest, mediaType };
  }

  /** The digest a tag or digest resolves to now, or undefined when there is no such manifest. */
  async manifestDigest(repository: string, reference: string, scopes: readonly string[]): Promise<Digest | undefined> {
    const res = await this.request({ method: 'HEAD', url: `/v2/${repository}/manifests/${reference}`, headers: { accept: ACCEPT_MANIFESTS }, scopes, ok: [200, 404], what: `the check for the manifest ${reference} in ${this.domain}/${repository}` });
    await res.body?.cancel();
    if (res.status === 404) return undefined;
    const stated = res.headers.get('docker-content-digest');
    return stated?.startsWith('sha256:') ? (stated as Digest) : undefined;
  }

  async putManifest(repository: string, reference: string, bytes: Uint8Array, mediaType: string, scopes: readonly string[]): Promise<Response> {
    const res = await this.request({
      method: 'PUT', url: `/v2/${repository}/manifests/${reference}`, headers: { 'content-type': mediaType }, body: bytes, scopes, ok: [201, 200, 202],
      what: `the upload of the manifest ${reference} to ${this.domain}/${repository}`,
    });
    await res.body?.cancel();
    const stated = res.headers.get('docker-content-digest');
    const digest = digestOf(bytes);
    if (stated?.startsWith('sha256:') && stated !== digest) {
      throw new PithError('REGISTRY_DIGEST_MISMATCH', `expected ${this.domain}/${repository} to store the manifest ${reference} as ${digest}, it answered ${stated}`);
    }
    return res;
  }
}

/** Bodies from this size on are handed to fetch as a stream of views. */
const STREAMED_BODY = 1 << 20;

/**
 * A large request body in a form fetch sends without copying: given a Uint8Array, undici copies it twice before
 * the first byte leaves (a 100 MB layer costs 200 MB of copies and the garbage after them, and half the time of a
 * local push); given a stream of views into it, with the length stated, it writes the views as they are. Made anew
 * for every attempt, since a stream is spent once sent.
 */
function uncopiedBody(init: RequestInit): RequestInit {
  if (!(init.body instanceof Uint8Array) || init.body.byteLength < STREAMED_BODY) return {};
  const body: Uint8Array = init.body;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let at = 0; at < body.byteLength; at += STREAMED_BODY) controller.enqueue(body.subarray(at, at + STREAMED_BODY));
      controller.close();
    },
  });
  const headers = { ...(init.headers as Record<string, string> | undefined), 'content-length': String(body.byteLength) };
  return { body: stream, headers, duplex: 'half' } as RequestInit;
}

/** A URL for a message: upload state tokens are long and say nothing to a reader. */
/**
 * The largest manifest read when no descriptor gives its size: the distribution spec's 4 MiB, the least a
 * registry must accept.
 */
export const MANIFEST_LIMIT = 4 << 20;

/**
 * A response body and its digest, hashed as it arrives (so hashing overlaps the download), refused
 * (REGISTRY_TOO_LARGE) once it passes `limit` bytes, whatever Content-Length said.
 */
async function readLimited(res: Response, limit: number, what: string): Promise<{ bytes: Uint8Array; digest: Digest }> {
  const tooLarge = (n: number | string) => new PithError('REGISTRY_TOO_LARGE', `${what}: expected at most ${limit} bytes, the registry sends ${n}`);
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > limit) {
    await res.body?.cancel();
    throw tooLarge(declared);
  }
  const chunks: Uint8Array[] = [];
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of (res.body ?? []) as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) {
      await res.body?.cancel().catch(() => undefined);
      throw tooLarge(`more`);
    }
    hash.update(chunk);
    chunks.push(chunk);
  }
  return { bytes: concat(chunks), digest: `sha256:${hash.digest('hex')}` };
}

function redact(url: string): string {
  return url.replace(/([?&]_state=)[^&]+/, '$1…');
}

// ------------------------------------------------------------------------------------------------ known blob places

/**
 * Where blobs were seen (pulled from, pushed to) by the clients sharing one options object — one pith run —
 * per registry: a later push to another repository of the same registry can mount them from there instead of
 * uploading them again (the distribution API's cross-repository mount).
 */
const seen = new WeakMap<RegistryOptions, Map<string, Set<string>>>();

export function noteBlob(client: RegistryClient, repository: string, digest: Digest): void {
  let places = seen.get(client.options);
  if (!places) seen.set(client.options, (places = new Map()));
  const key = `${client.domain}/${digest}`;
  let repos = places.get(key);
  if (!repos) places.set(key, (repos = new Set()));
  repos.add(repository);
}

export function blobLocations(client: RegistryClient, digest: Digest): string[] {
  return [...(seen.get(client.options)?.get(`${client.domain}/${digest}`) ?? [])];
}
