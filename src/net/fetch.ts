import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PithError } from '../errors.ts';

export interface FetchOptions {
  /** Attempts in all, including the first (default 4). */
  attempts?: number;
  /** Per-attempt timeout in ms (default 60 s). */
  timeoutMs?: number;
  /** First backoff delay in ms (default 250); doubles each retry, with full jitter. */
  backoffMs?: number;
  signal?: AbortSignal;
  /** Reports bytes received so far and the expected total (when known). */
  onProgress?: (received: number, total: number | undefined) => void;
}

/**
 * GETs a URL into memory. `file:` URLs are read from disk, as apt allows them in sources.
 * Retries with exponential backoff and jitter on connection errors, timeouts, 5xx and 429 (honouring
 * Retry-After); a 4xx is final, and so is a host name that does not resolve (see classifyNetworkError). 404 and
 * 410 raise HTTP_NOT_FOUND so callers can fall back to another path.
 */
export async function fetchBytes(url: string, options: FetchOptions = {}): Promise<Uint8Array> {
  return fetchStream(url, options, async (body) => {
    const chunks: Uint8Array[] = [];
    let received = 0;
    for await (const chunk of body) {
      chunks.push(chunk);
      received += chunk.byteLength;
    }
    return Buffer.concat(chunks, received);
  });
}

/**
 * `fetchBytes` for a body too large to hold: `consume` is handed the body as it arrives (a `file:` URL's file as
 * it is read) and stores it where it belongs; an attempt that breaks off is retried, so `consume` must start over
 * each time it is called. A PithError from `consume` (bytes that fail a check) ends the fetch, never retried.
 */
export async function fetchStream<T>(url: string, options: FetchOptions, consume: (body: AsyncIterable<Uint8Array>) => Promise<T>): Promise<T> {
  if (url.startsWith('file:')) {
    const path = fileURLToPath(url);
    try {
      const { size } = await stat(path);
      return await consume(progress(createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Uint8Array>, url, size, options.onProgress));
    } catch (e) {
      if (e instanceof PithError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new PithError('HTTP_NOT_FOUND', `${url}: not found`);
      throw new PithError('NETWORK', `${url}: ${(e as Error).message}`, { cause: e });
    }
  }
  const attempts = options.attempts ?? 4;
  const backoff = options.backoffMs ?? 250;
  let lastProblem = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let retryAfterMs: number | undefined;
    try {
      const signals = [AbortSignal.timeout(options.timeoutMs ?? 60_000)];
      if (options.signal) signals.push(options.signal);
      const res = await fetch(url, { signal: AbortSignal.any(signals), redirect: 'follow' });
      if (res.ok) {
        const lengthHeader = res.headers.get('content-length');
        const total = lengthHeader !== null && res.headers.get('content-encoding') === null ? Number(lengthHeader) : undefined;
        return await consume(progress((res.body ?? []) as AsyncIterable<Uint8Array>, url, total, options.onProgress));
      }
      await res.body?.cancel();
      if (res.status === 404 || res.status === 410) {
        throw new PithError('HTTP_NOT_FOUND', `${url}: the server answered ${res.status} ${res.statusText}`);
      }
      lastProblem = `HTTP ${res.status} ${res.statusText}`;
      if (res.status !== 429 && res.status < 500) {
        throw new PithError('HTTP_STATUS', `${url}: expected 200, the server answered ${res.status} ${res.statusText}`);
      }
      const ra = res.headers.get('retry-after');
      if (ra) retryAfterMs = parseRetryAfter(ra);
    } catch (e) {
      if (e instanceof PithError) throw e;
      if (options.signal?.aborted) throw e;
      const failure = classifyNetworkError(e);
      if (failure.unresolved !== undefined && attempt >= Math.min(attempts, failure.attempts)) {
        throw new PithError('NETWORK', `${url}: ${failure.description}${attempt > 1 ? `, ${attempt} attempts` : ', not retried'}`, { cause: e, details: { unresolved: failure.unresolved } });
      }
      lastProblem = failure.description;
    }
    if (attempt < attempts) await sleep(retryDelay(attempt, backoff, retryAfterMs));
  }
  throw new PithError('NETWORK', `${url}: could not fetch after ${attempts} attempts (last: ${lastProblem})`);
}

/** The body as it arrives, with progress reported and a body shorter than its Content-Length refused at its end. */
async function* progress(
  body: AsyncIterable<Uint8Array>,
  url: string,
  total: number | undefined,
  onProgress?: (received: number, total: number | undefined) => void,
): AsyncGenerator<Uint8Array> {
  let received = 0;
  for await (const chunk of body) {
    received += chunk.byteLength;
    onProgress?.(received, total);
    yield chunk;
  }
  if (total !== undefined && received !== total) {
    throw new Error(`${url}: connection ended after ${received} of ${total} bytes`);
  }
}

/**
 * The wait before retry number `attempt` (1 for the first): the server's Retry-After when it gave one, else
 * exponential backoff from `baseMs` with full jitter (a random point in the window, so clients that failed together
 * do not retry together). Capped at 30 s.
 */
export function retryDelay(attempt: number, baseMs: number, retryAfterMs?: number): number {
  return Math.min(retryAfterMs ?? Math.random() * baseMs * 2 ** (attempt - 1), 30_000);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Retry-After as delay-seconds or an HTTP date, in ms from now. */
export function parseRetryAfter(value: string): number | undefined {
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/**
 * A `fetch` that threw, sorted by what retrying it can do. A host name that does not resolve is a different
 * failure from a host that cannot be reached, and the two are told apart in the message:
 * - ENOTFOUND (getaddrinfo's EAI_NONAME/EAI_NODATA: the name has no address) and EAI_FAIL (the resolver gave a
 *   final error) are final: the DNS answered, and asking again within seconds gets the same answer. Retrying them
 *   six times only made a typo or an offline machine wait, then blamed the wrong thing.
 * - EAI_AGAIN is the resolver saying "temporary failure": a resolver restarting or a dropped DNS packet, but also a
 *   machine with no network at all, where it comes back at once every time. glibc has already retried inside
 *   getaddrinfo (resolv.conf's `attempts`, `timeout`), so one more attempt after a backoff covers the transient
 *   case without making an offline machine wait through the whole retry budget.
 * - everything else (refused and reset connections, TLS errors, timeouts) is left to the caller's retries.
 */
export interface NetworkFailure {
  /** For messages: which of the failures it was, with the system's code. */
  description: string;
  /** The host name that did not resolve, for a DNS failure. */
  unresolved?: string;
  /** The most attempts worth making for this failure, the first included. */
  attempts: number;
}

const DNS_FINAL = new Set(['ENOTFOUND', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);
const DNS_TEMPORARY = 'EAI_AGAIN';

export function classifyNetworkError(e: unknown): NetworkFailure {
  const cause = (e as { cause?: { code?: unknown; syscall?: unknown; hostname?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  if (code !== undefined && (DNS_FINAL.has(code) || code === DNS_TEMPORARY)) {
    const host = typeof cause?.hostname === 'string' ? cause.hostname : 'the host';
    const temporary = code === DNS_TEMPORARY;
    const why = temporary
      ? 'a temporary failure of the resolver: is this machine offline, or its DNS server unreachable?'
      : "no such name: check its spelling, or this machine's network and DNS settings";
    return { description: `could not resolve the host name ${host} (DNS resolution: ${code}, ${why})`, unresolved: host, attempts: temporary ? 2 : 1 };
  }
  return { description: describeNetworkError(e), attempts: Infinity };
}

/** What failed in a `fetch` that threw: the socket error code (ECONNRESET, …) when there is one. */
export function describeNetworkError(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return 'timed out';
  const cause = err.cause;
  if (cause?.code) return `${cause.code}${cause.message ? `: ${cause.message}` : ''}`;
  if (cause?.message) return `${err.message}: ${cause.message}`;
  return err.message ?? String(e);
}
