/**
 * Registry authentication as the distribution spec and docker's token protocol define it. A registry answers 401
 * with `WWW-Authenticate`: `Basic realm=…` means send the credentials on every request; `Bearer realm=…,
 * service=…,scope=…` means ask the token server at `realm` for a token covering the scopes (with the credentials,
 * or anonymously), and send that. Tokens are cached per set of scopes until they expire; a 401 for a token
 * (expired early, revoked, or lacking a scope the registry now names) gets one fresh token and one retry.
 */
import { PithError } from '../errors.ts';
import type { Credentials } from './credentials.ts';

export interface Challenge {
  scheme: 'basic' | 'bearer';
  realm?: string;
  service?: string;
  /** Scopes the registry says the request needs. */
  scope?: string;
  error?: string;
}

/**
 * Parses a `WWW-Authenticate` value: a scheme, then comma-separated `key=value` parameters whose values may be
 * quoted strings (holding commas, as scopes do: "repository:a:pull,push"). Unknown schemes give undefined.
 */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const re = /\s*([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?/gy;
  const rest = m[2]!;
  re.lastIndex = 0;
  for (let p = re.exec(rest); p !== null && p[0] !== ''; p = re.exec(rest)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  }
  return { scheme, ...params };
}

/** "repository:team/app:pull,push" for a repository and the actions needed on it. */
export function repositoryScope(repository: string, actions: readonly string[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}

interface CachedToken {
  token: string;
  /** ms since the epoch; a token is refreshed a little before. */
  expiresAt: number;
}

/** How the authenticator reaches a token server: `fetch` with the client's retries. */
export type TokenFetch = (url: string, init: RequestInit, what: string) => Promise<Response>;

/** One registry's authentication state: the last challenge, the credentials, and cached tokens. */
export class Authenticator {
  private challenge: Challenge | undefined;
  /** In flight or received, so parallel requests for the same scopes share one token request. */
  private readonly tokens = new Map<string, Promise<CachedToken>>();

  constructor(
    private readonly registry: string,
    private readonly credentials: () => Promise<Credentials | undefined>,
    private readonly fetchToken: TokenFetch,
  ) {}

  /** Records the challenge of a 401 (from the ping or any request); a 401 without one keeps the last. */
  observe(header: string | null): void {
    const c = parseChallenge(header);
    if (c) this.challenge = c;
  }

  /** The registry's last challenge: undefined when it asked for no authentication. */
  get current(): Challenge | undefined {
    return this.challenge;
  }

  /** The Authorization header for a request needing `scopes`, or undefined when the registry asked for none. */
  async header(scopes: readonly string[]): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    if (c.scheme === 'basic') {
      const creds = await this.credentials();
      if (!creds?.password) {
        throw new PithError('REGISTRY_UNAUTHORIZED', `${this.registry} asks for a user name and password (basic auth), found no credentials for it; run \`pith login ${this.registry}\``);
      }
      return `Basic ${Buffer.from(`${creds.username ?? ''}:${creds.password}`).toString('base64')}`;
    }
    const key = scopeKey(scopes);
    let pending = this.tokens.get(key);
    if (pending) {
      const token = await pending.catch(() => undefined);
      if (!token || token.expiresAt <= Date.now()) pending = undefined;
    }
    if (!pending) {
      pending = this.requestToken(c, scopes);
      this.tokens.set(key, pending);
      pending.catch(() => { if (this.tokens.get(key) === pending) this.tokens.delete(key); });
    }
    return `Bearer ${(await pending).token}`;
  }

  /**
   * After a 401: take its challenge, forget the token that was refused, and say whether a retry can help — once
   * per request, and only when a fresh token (or credentials for basic) could differ from what was sent.
   */
  async refresh(header: string | null, scopes: readonly string[], sent: string | undefined): Promise<boolean> {
    const before = this.challenge;
    this.observe(header);
    const c = this.challenge;
    if (!c) return false;
    if (c.scheme === 'basic') return before?.scheme !== 'basic';
    // Parallel requests refused the same token all land here: only the first drops it, the rest reuse its successor.
    const key = scopeKey(scopes);
    const current = this.tokens.get(key);
    const token = await current?.catch(() => undefined);
    if (current && (!token || `Bearer ${token.token}` === sent)) this.tokens.delete(key);
    return true;
  }

  private async requestToken(c: Challenge, scopes: readonly string[]): Promise<CachedToken> {
    const realm = tokenRealm(c, this.registry);
    const all = [...new Set([...scopes, ...(c.scope ? c.scope.split(' ') : [])])];
    const creds = await this.credentials();
    const what = `a token for ${all.join(' ') || 'access'} from ${realm.origin}${realm.pathname}`;
    let res: Response;
    if (creds?.identityToken) {
      // docker's identity tokens are OAuth2 refresh tokens: exchanged by a form POST to the same realm.
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, service: c.service ?? '', client_id: 'pith' });
      if (all.length) form.set('scope', all.join(' '));
      res = await this.fetchToken(realm.href, { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } }, what);
    } else {
      if (c.service) realm.searchParams.set('service', c.service);
      for (const s of all) realm.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      if (creds?.password) headers.authorization = `Basic ${Buffer.from(`${creds.username ?? ''}:${creds.password}`).toString('base64')}`;
      res = await this.fetchToken(realm.href, { headers }, what);
    }
    const text = await res.text();
    if (res.status === 401 || res.status === 403) {
      throw new PithError('REGISTRY_UNAUTHORIZED', `the token server of ${this.registry} refused ${creds ? `the credentials from ${creds.from ?? 'the caller'}` : 'anonymous access'} for ${all.join(' ') || 'access'} (${res.status}${text ? `: ${text.slice(0, 200)}` : ''})${creds ? '' : `; run \`pith login ${this.registry}\``}`);
    }
    if (!res.ok) throw new PithError('REGISTRY_AUTH_CHALLENGE', `expected ${what}, the token server answered ${res.status} ${res.statusText}`);
    let body: { token?: string; access_token?: string; expires_in?: number };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new PithError('REGISTRY_AUTH_CHALLENGE', `expected JSON with a token from ${realm.origin}${realm.pathname}, found ${JSON.stringify(text.slice(0, 80))}`);
    }
    const token = body.token ?? body.access_token;
    if (!token) throw new PithError('REGISTRY_AUTH_CHALLENGE', `expected "token" or "access_token" in the answer of ${realm.origin}${realm.pathname}, found neither`);
    // The token protocol's default lifetime is 60 s. Counted from receipt (a token server's clock may differ from
    // ours), less 10 % so a token never expires in flight.
    const lifetime = (typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60) * 1000;
    return { token, expiresAt: Date.now() + lifetime * 0.9 };
  }
}

/** The token server's URL from a Bearer challenge; credentials go only to HTTPS ones, or over loopback. */
export function tokenRealm(c: Challenge, registry: string): URL {
  let realm: URL;
  try {
    realm = new URL(c.realm ?? '');
  } catch {
    throw new PithError('REGISTRY_AUTH_CHALLENGE', `expected a token server URL as the realm of the Bearer challenge of ${registry}, found ${JSON.stringify(c.realm ?? null)}`);
  }
  if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && isLoopbackHost(realm.hostname))) {
    throw new PithError('REGISTRY_AUTH_CHALLENGE', `${registry} sends clients to the token server ${c.realm}; pith sends credentials only over HTTPS (or plain HTTP to a loopback address)`);
  }
  return realm;
}

function scopeKey(scopes: readonly string[]): string {
  return [...new Set(scopes)].sort().join(' ');
}

/** localhost, 127.0.0.0/8 and ::1: where plain HTTP never leaves the machine. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}
