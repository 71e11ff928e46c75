/**
 * The HTTP face of `pith serve`, on node:http: the JSON API, the server-rendered pages (the same data: each page is
 * one API answer rendered), /metrics, /healthz and the login form. Every read goes through the service's gate, so
 * one answer is one state of the fleet. Query parameters are checked before any query: a bad one is a 400 naming
 * what was expected.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { loopback, SESSION_COOKIE } from './auth.ts';
import { CSS, loginPage, overviewPage, imagePage, notFoundPage, searchPage, sourcesPage, timelinePage, type Layout } from './pages.ts';
import type { ServeState } from './service.ts';
import type { CveHit, FleetSummary, ImageSummary, PackageHit } from './store.ts';

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const badRequest = (message: string) => new HttpError(400, message);

// Debian policy's package names (lowercase, digits, + - .) and version characters (epoch colon, ~ for pre-releases).
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]{0,199}$/;
const VERSION = /^[0-9A-Za-z.+~:-]{1,200}$/;
/** CVE-2026-1111, DSA-5678-1, DEBIAN-CVE-…, GHSA-xxxx-xxxx-xxxx: letters, then dash-separated parts. */
const ADVISORY_ID = /^[A-Za-z][A-Za-z0-9]{0,19}(?:-[A-Za-z0-9._:]{1,40}){1,6}$/;
/** A manifest digest, or a lock's (`lock:sha256:HEX`, with `:ARCH` for one architecture of a lock of several). */
const DIGEST = /^(?:sha256:[0-9a-f]{64}|lock:sha256:[0-9a-f]{64}(?::[a-z0-9]+)?)$/;

export type SearchQuery = { package: string; version?: string } | { cve: string };

/** `?package=NAME[&version=V]` or `?cve=ID`, nothing else. */
export function searchQuery(params: URLSearchParams): SearchQuery {
  only(params, ['package', 'version', 'cve']);
  const pkg = single(params, 'package');
  const version = single(params, 'version');
  const cve = single(params, 'cve');
  if (cve !== undefined) {
    if (pkg !== undefined || version !== undefined) throw badRequest('expected either package=NAME[&version=VERSION] or cve=ID, found both');
    if (!ADVISORY_ID.test(cve)) throw badRequest(`cve: expected an advisory id such as CVE-2026-1111 or DSA-5678-1, found ${JSON.stringify(cve)}`);
    return { cve };
  }
  if (pkg === undefined) throw badRequest(version === undefined ? 'expected package=NAME[&version=VERSION] or cve=ID' : 'version: expected with package=NAME, found alone');
  if (!PACKAGE_NAME.test(pkg)) throw badRequest(`package: expected a Debian package name (lowercase letters, digits, + - .), such as libssl3, found ${JSON.stringify(pkg)}`);
  if (version !== undefined && !VERSION.test(version)) throw badRequest(`version: expected a Debian version such as 3.0.17-1~deb12u2, found ${JSON.stringify(version)}`);
  return { package: pkg, ...(version !== undefined ? { version } : {}) };
}

/**
 * What the search box takes: an advisory id, or `NAME[@VERSION]`. Package names are lowercase (`gcc-12-base` looks
 * like an id otherwise), so a known advisory prefix in any case, or a capital first letter, means an id.
 */
export function parseSearchText(text: string): SearchQuery {
  const q = text.trim();
  if (/^(?:CVE|DSA|DLA|DTSA|DEBIAN|GHSA|OSV|TEMP)-/i.test(q) || /^[A-Z]/.test(q)) return searchQuery(new URLSearchParams({ cve: q }));
  const at = q.indexOf('@');
  const params = new URLSearchParams(at < 0 ? { package: q } : { package: q.slice(0, at), version: q.slice(at + 1) });
  return searchQuery(params);
}

function only(params: URLSearchParams, allowed: string[]): void {
  for (const key of params.keys()) {
    if (!allowed.includes(key)) throw badRequest(`unknown query parameter ${JSON.stringify(key)}: expected ${allowed.length === 0 ? 'none' : allowed.join(', ')}`);
  }
}

function single(params: URLSearchParams, key: string): string | undefined {
  const all = params.getAll(key);
  if (all.length > 1) throw badRequest(`${key}: expected once, found ${all.length} times`);
  if (all.length === 1 && all[0] === '') throw badRequest(`${key}: expected a value, found an empty one`);
  return all[0];
}

/** The image digest a path segment names (percent-encoded or not); a 400 for anything else. */
export function digestOf(segment: string): string {
  let d: string;
  try {
    d = decodeURIComponent(segment);
  } catch {
    throw badRequest('expected an image digest sha256:HEX (or lock:sha256:HEX) in the path, found bad percent-encoding');
  }
  if (!DIGEST.test(d)) throw badRequest(`expected an image digest sha256:HEX (64 lowercase hex digits), or lock:sha256:HEX[:ARCH], found ${JSON.stringify(d.slice(0, 100))}`);
  return d;
}

/** An image as the API lists it: the store's summary and the reference a person would pull it by. */
export function apiImage(i: ImageSummary) {
  const preferred = i.origins.find((o) => o.kind === 'registry' && o.state === 'current') ?? i.origins[0];
  return { reference: preferred?.reference ?? i.name, ...i };
}

/** The fleet's state as both the API and the pages report it. */
function refreshState(state: ServeState) {
  return {
    running: state.refreshing,
    intervalSeconds: state.intervalMs / 1000,
    ...(state.lastRefresh ? { last: state.lastRefresh.result.refresh } : {}),
    ...(state.lastFailure ? { lastFailure: state.lastFailure } : {}),
  };
}

export function handler(state: ServeState) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    serve(state, req, res).catch((e: unknown) => {
      const api = (req.url ?? '').startsWith('/api/');
      const status = e instanceof HttpError ? e.status : 500;
      const message = e instanceof HttpError ? e.message : 'internal error: the store could not be read (see the service log)';
      if (!(e instanceof HttpError)) process.stderr.write(`pith serve: ${req.method} ${req.url}: ${(e as Error)?.stack ?? String(e)}\n`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (api || req.url === '/healthz' || req.url === '/metrics') sendJson(res, status, { error: { status, message } });
      else sendHtml(res, status, notFoundPage(layout(state, req), status, message));
    });
  };
}

async function serve(state: ServeState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://pith.invalid');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');

  if (state.loopbackOnly && !loopbackHost(req.headers.host)) {
    throw new HttpError(421, `expected a Host of localhost or a loopback address, found ${JSON.stringify(req.headers.host ?? '')}: this service answers only this machine without a token (set PITH_SERVE_TOKEN to serve other names)`);
  }
  if (path === '/assets/pith.css') return send(res, 200, 'text/css; charset=utf-8', CSS, { 'Cache-Control': 'max-age=3600' });
  if (path === '/healthz') return healthz(state, res);
  if (path === '/login') return login(state, req, res, url, method);
  if (path === '/logout' && method === 'POST') {
    res.setHeader('Set-Cookie', `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`);
    return redirect(res, '/login');
  }
  if (method !== 'GET' && method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    throw new HttpError(405, `${method} is not served here: expected GET`);
  }
  const api = path.startsWith('/api/');
  if (state.auth && !state.auth.allows(req)) {
    if (api || path === '/metrics' || req.headers.authorization !== undefined) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="pith serve"');
      return sendJson(res, 401, { error: { status: 401, message: 'expected Authorization: Bearer TOKEN with the PITH_SERVE_TOKEN this service was started with' } });
    }
    return redirect(res, `/login?${new URLSearchParams({ next: url.pathname + url.search })}`);
  }
  const read = <T>(fn: () => Promise<T>) => state.gate.read(fn);
  const store = state.store;

  if (path === '/metrics') return send(res, 200, state.metrics.contentType, await state.metrics.text());

  // ─── The API ───
  if (api) {
    const rest = path.slice('/api/'.length);
    if (rest.startsWith('images/')) {
      only(url.searchParams, []);
      const digest = digestOf(rest.slice('images/'.length));
      const detail = await read(() => store.imageDetail(digest));
      if (!detail) throw new HttpError(404, `no image ${digest} was ever seen by this service`);
      return sendJson(res, 200, { ...detail, image: apiImage(detail.image) });
    }
    switch (rest) {
      case 'images': {
        only(url.searchParams, []);
        const images = await read(() => store.listImages());
        return sendJson(res, 200, { images: images.map(apiImage) });
      }
      case 'search': {
        const query = searchQuery(url.searchParams);
        return sendJson(res, 200, { query, images: await read(() => search(state, query)) });
      }
      case 'summary': {
        only(url.searchParams, []);
        return sendJson(res, 200, { ...(await read(() => store.fleetSummary())), refresh: refreshState(state) });
      }
      case 'timeline': {
        only(url.searchParams, []);
        return sendJson(res, 200, { events: await read(() => store.patchTimeline()) });
      }
      case 'sources': {
        only(url.searchParams, []);
        return sendJson(res, 200, { sources: await read(() => store.sourceStatus()), refresh: refreshState(state), ...(state.autoUpdates ? { autoUpdates: state.autoUpdates } : {}) });
      }
    }
    throw new HttpError(404, `no API at ${path}: expected /api/images, /api/images/{digest}, /api/search, /api/summary, /api/timeline or /api/sources`);
  }

  // ─── The pages ───
  const page = layout(state, req);
  if (path === '/') {
    only(url.searchParams, []);
    const [summary, images, sources] = await read(async () => [await store.fleetSummary(), await store.listImages(), await store.sourceStatus()] as const);
    return sendHtml(res, 200, overviewPage(page, summary, images, sources));
  }
  if (path === '/search') {
    only(url.searchParams, ['q']);
    const text = url.searchParams.get('q');
    if (text === null || text.trim() === '') return sendHtml(res, 200, searchPage(page, ''));
    let query: SearchQuery;
    try {
      query = parseSearchText(text);
    } catch (e) {
      if (e instanceof HttpError) return sendHtml(res, 400, searchPage(page, text, { error: e.message }));
      throw e;
    }
    const hits = await read(() => search(state, query));
    return sendHtml(res, 200, searchPage(page, text, { query, hits }));
  }
  if (path.startsWith('/images/')) {
    only(url.searchParams, []);
    const digest = digestOf(path.slice('/images/'.length));
    const detail = await read(() => store.imageDetail(digest));
    if (!detail) throw new HttpError(404, `no image ${digest} was ever seen by this service`);
    return sendHtml(res, 200, imagePage(page, detail));
  }
  if (path === '/timeline') {
    only(url.searchParams, []);
    const [events, summary] = await read(async () => [await store.patchTimeline(), await store.fleetSummary()] as const);
    return sendHtml(res, 200, timelinePage(page, events, summary));
  }
  if (path === '/sources') {
    only(url.searchParams, []);
    return sendHtml(res, 200, sourcesPage(page, await read(() => store.sourceStatus()), refreshState(state), state.autoUpdates));
  }
  throw new HttpError(404, `nothing at ${path}`);
}

function search(state: ServeState, query: SearchQuery): Promise<PackageHit[] | CveHit[]> {
  return 'cve' in query ? state.store.searchCve(query.cve) : state.store.searchPackage(query.package, query.version);
}

function layout(state: ServeState, req: IncomingMessage): Layout {
  return {
    refresh: refreshState(state),
    signedIn: state.auth !== undefined && req.headers.authorization === undefined && state.auth.allows(req),
  };
}

async function healthz(state: ServeState, res: ServerResponse): Promise<void> {
  const last = state.lastRefresh;
  if (!last) {
    return sendJson(res, 503, { status: 'starting', message: 'the first refresh has not been recorded yet', ...(state.lastFailure ? { lastFailure: state.lastFailure } : {}) });
  }
  const age = Date.now() - Date.parse(last.finishedAt);
  // Two missed intervals (and a margin for a slow refresh) before calling the data stale.
  const stale = age > 2 * state.intervalMs + 60_000 || state.lastFailure !== undefined;
  let summary: FleetSummary;
  try {
    summary = await state.gate.read(() => state.store.fleetSummary());
  } catch (e) {
    // A probe must hear that the store is gone (a PostgreSQL server down), not get an internal error.
    return sendJson(res, 503, { status: 'unavailable', message: `the store cannot be read: ${(e as Error).message}`, lastRefresh: last.result.refresh, ...(state.lastFailure ? { lastFailure: state.lastFailure } : {}) });
  }
  return sendJson(res, 200, {
    status: stale ? 'stale' : 'ok',
    lastRefresh: last.result.refresh,
    ...(state.lastFailure ? { lastFailure: state.lastFailure } : {}),
    images: summary.images,
    staleImages: summary.staleImages,
  });
}

async function login(state: ServeState, req: IncomingMessage, res: ServerResponse, url: URL, method: string): Promise<void> {
  const next = safeNext(url.searchParams.get('next'));
  if (!state.auth) return redirect(res, next);
  if (method === 'GET' || method === 'HEAD') return sendHtml(res, 200, loginPage(layout(state, req), next));
  if (method !== 'POST') {
    res.setHeader('Allow', 'GET, HEAD, POST');
    throw new HttpError(405, `${method} is not served here: expected GET or POST`);
  }
  const form = new URLSearchParams(await body(req, 4096));
  const target = safeNext(form.get('next'));
  if (!state.auth.matches(form.get('token') ?? '')) return sendHtml(res, 401, loginPage(layout(state, req), target, 'That token is not the one this service was started with.'));
  res.setHeader('Set-Cookie', `${SESSION_COOKIE}=${state.auth.session}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${7 * 24 * 3600}`);
  return redirect(res, target);
}

/** `localhost:8080`, `127.0.0.1:8080`, `[::1]:8080`: the Host header of a request made to this machine by its own name. */
function loopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::\d+)?$/.exec(host);
  return m !== null && loopback((m[1] ?? m[2]!).toLowerCase());
}

/** Only a path of this site: `//host` and `https://…` would send a person elsewhere after logging in. */
function safeNext(next: string | null): string {
  return next !== null && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}

function body(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new HttpError(413, `expected a form of at most ${limit} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { Location: location, 'Content-Length': '0' });
  res.end();
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(value, null, 2)}\n`);
}

function sendHtml(res: ServerResponse, status: number, page: string): void {
  send(res, status, 'text/html; charset=utf-8', page, {
    // No script runs and nothing loads from elsewhere: an injected value could not do anything even if escaping failed.
    'Content-Security-Policy': "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  });
}

function send(res: ServerResponse, status: number, type: string, text: string, headers: Record<string, string> = {}): void {
  const data = Buffer.from(text, 'utf8');
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(data.length), 'Cache-Control': 'no-store', ...headers });
  res.end(data);
}
