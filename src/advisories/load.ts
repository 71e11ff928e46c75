/**
 * Where advisories come from: a file, a directory of OSV records, a zip of them (the form OSV publishes its
 * per-ecosystem exports in), or an http(s) URL of any of these — cached, and re-fetched conditionally
 * (If-None-Match / If-Modified-Since) so an unchanged feed costs one small request.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { ContentStore, defaultCacheDir, sha256Hex } from '../cache/store.ts';
import { PithError } from '../errors.ts';
import { describeNetworkError } from '../net/fetch.ts';
import { parseOsv, parseTracker, type Advisory, type FeedParse } from './feeds.ts';

export interface AdvisorySet {
  advisories: Advisory[];
  /** Records for another ecosystem/release, or releases never affected. */
  skipped: number;
  /** Where each source was read from (a URL's cache state included). */
  sources: Array<{ source: string; records: number; cache?: 'fresh' | 'revalidated' | 'stale' }>;
}

export interface LoadAdvisoriesOptions {
  /** OSV ecosystem, e.g. `Debian:12`. */
  ecosystem: string;
  /** Tracker release codename, e.g. `bookworm`. */
  codename: string;
  cacheDir?: string;
  offline?: boolean;
  onWarning?: (message: string) => void;
}

/** A tracker document is one object keyed by source package whose values hold CVE ids; anything else is OSV. */
function looksLikeTracker(text: string): boolean {
  const head = text.slice(0, 4096);
  return !/"(id|affected|schema_version|modified)"\s*:/.test(head) && /"CVE-\d{4}-\d+"\s*:\s*\{/.test(head);
}

function parseDocument(text: string, where: string, options: LoadAdvisoriesOptions) {
  return looksLikeTracker(text) ? parseTracker(text, where, options.codename) : parseOsv(text, where, options.ecosystem);
}

/** Bumped whenever what `parsed()` caches changes shape. */
const PARSED_FORMAT = 'advisories-parsed-v1';

export async function loadAdvisories(sources: string[], options: LoadAdvisoriesOptions): Promise<AdvisorySet> {
  const set: AdvisorySet = { advisories: [], skipped: 0, sources: [] };
  const store = new ContentStore(options.cacheDir ?? defaultCacheDir());
  const add = (parsed: FeedParse, source: string, cache?: AdvisorySet['sources'][number]['cache']) => {
    for (const a of parsed.advisories) set.advisories.push(a);
    set.skipped += parsed.skipped;
    set.sources.push({ source, records: parsed.advisories.length + parsed.skipped, cache });
  };
  const parseAll = (docs: Array<{ text: string; where: string }>): FeedParse => {
    const out: FeedParse = { advisories: [], skipped: 0 };
    for (const doc of docs) {
      const parsed = parseDocument(doc.text, doc.where, options);
      for (const a of parsed.advisories) out.advisories.push(a);
      out.skipped += parsed.skipped;
    }
    return out;
  };
  /**
   * A feed file's records for this release, cached by the feed's digest: a 40,000-record zip is inflated and
   * parsed once, and a fleet check afterwards reads one compact JSON document.
   */
  const parsed = async (bytes: Uint8Array, where: string): Promise<FeedParse> => {
    const key = `${PARSED_FORMAT} ${sha256Hex(bytes)} ${options.ecosystem} ${options.codename} ${where}`;
    const digest = await store.getRef('advisories-parsed', key);
    const cached = digest ? await store.get(digest) : null;
    if (cached) return JSON.parse(cached.toString('utf8')) as FeedParse;
    const fresh = parseAll(documentsOf(bytes, where));
    await store.setRef('advisories-parsed', key, await store.put(Buffer.from(JSON.stringify(fresh))));
    return fresh;
  };
  for (const source of sources) {
    if (/^https?:\/\//.test(source)) {
      const { bytes, cache } = await fetchCached(source, options);
      add(await parsed(bytes, source), source, cache);
      continue;
    }
    let st;
    try {
      st = statSync(source);
    } catch (e) {
      throw new PithError('ADVISORY_NOT_FOUND', `--advisories ${source}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    if (st.isDirectory()) {
      const docs: Array<{ text: string; where: string }> = [];
      for (const file of jsonFilesUnder(source)) docs.push({ text: readFileSync(file, 'utf8'), where: file });
      add(parseAll(docs), source);
    } else add(await parsed(readFileSync(source), source), source);
  }
  return set;
}

function jsonFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...jsonFilesUnder(path));
    else if (entry.name.endsWith('.json')) out.push(path);
  }
  return out;
}

function documentsOf(bytes: Uint8Array, where: string): Array<{ text: string; where: string }> {
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) {
    return readZip(bytes, where)
      .filter((m) => m.name.endsWith('.json'))
      .map((m) => ({ text: Buffer.from(m.data).toString('utf8'), where: `${where}!${m.name}` }));
  }
  return [{ text: Buffer.from(bytes).toString('utf8'), where }];
}

/** The members of a zip archive (stored or deflated), read through its central directory. */
export function readZip(bytes: Uint8Array, where: string): Array<{ name: string; data: Uint8Array }> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const bad = (message: string) => new PithError('ADVISORY_INVALID', `${where}: not a readable zip archive: ${message}`);
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw bad('no end-of-central-directory record');
  const count = buf.readUInt16LE(eocd + 10);
  let at = buf.readUInt32LE(eocd + 16);
  const members: Array<{ name: string; data: Uint8Array }> = [];
  for (let n = 0; n < count; n++) {
    if (at + 46 > buf.length || buf.readUInt32LE(at) !== 0x02014b50) throw bad(`central directory entry ${n} at offset ${at} is damaged`);
    const method = buf.readUInt16LE(at + 10);
    const compressed = buf.readUInt32LE(at + 20);
    const nameLength = buf.readUInt16LE(at + 28);
    const extraLength = buf.readUInt16LE(at + 30);
    const commentLength = buf.readUInt16LE(at + 32);
    const local = buf.readUInt32LE(at + 42);
    const name = buf.toString('utf8', at + 46, at + 46 + nameLength);
    at += 46 + nameLength + extraLength + commentLength;
    if (name.endsWith('/')) continue;
    if (local + 30 > buf.length || buf.readUInt32LE(local) !== 0x04034b50) throw bad(`${name}: local header at offset ${local} is damaged`);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(start, start + compressed);
    if (raw.length !== compressed) throw bad(`${name}: truncated`);
    if (method === 0) members.push({ name, data: raw });
    else if (method === 8) members.push({ name, data: inflateRawSync(raw) });
    else throw bad(`${name}: compression method ${method} (only stored and deflate are read)`);
  }
  return members;
}

interface CachedFeed {
  url: string;
  body: string;
  etag?: string;
  lastModified?: string;
}

/** GET with the validators of the cached copy; a 304 (or an unreachable server, with a warning) uses the cache. */
async function fetchCached(url: string, options: LoadAdvisoriesOptions): Promise<{ bytes: Uint8Array; cache: 'fresh' | 'revalidated' | 'stale' }> {
  const store = new ContentStore(options.cacheDir ?? defaultCacheDir());
  const metaDigest = await store.getRef('advisories', url);
  const meta = metaDigest ? await store.get(metaDigest) : null;
  const cached = meta ? (JSON.parse(meta.toString('utf8')) as CachedFeed) : undefined;
  const body = cached ? await store.get(cached.body) : null;
  if (options.offline) {
    if (!body) throw new PithError('OFFLINE_MISSING', `--offline: the cache lacks the advisories of ${url}`);
    return { bytes: body, cache: 'stale' };
  }
  const headers: Record<string, string> = {};
  if (body && cached?.etag) headers['If-None-Match'] = cached.etag;
  if (body && cached?.lastModified) headers['If-Modified-Since'] = cached.lastModified;
  let res: Response;
  try {
    res = await fetch(url, { headers, redirect: 'follow', signal: AbortSignal.timeout(120_000) });
  } catch (e) {
    if (body) {
      options.onWarning?.(`${url}: ${describeNetworkError(e)}; using the cached copy`);
      return { bytes: body, cache: 'stale' };
    }
    throw new PithError('NETWORK', `${url}: ${describeNetworkError(e)}`, { cause: e });
  }
  if (res.status === 304 && body) {
    await res.body?.cancel();
    return { bytes: body, cache: 'revalidated' };
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new PithError('HTTP_STATUS', `${url}: expected 200, the server answered ${res.status} ${res.statusText}`);
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  const bodyDigest = await store.put(bytes);
  const record: CachedFeed = { url, body: bodyDigest, etag: res.headers.get('etag') ?? undefined, lastModified: res.headers.get('last-modified') ?? undefined };
  await store.setRef('advisories', url, await store.put(Buffer.from(JSON.stringify(record))));
  return { bytes, cache: 'fresh' };
}
