/**
 * Who may read the fleet: anyone who can reach a loopback address (they are on this machine), and elsewhere only
 * holders of PITH_SERVE_TOKEN — as `Authorization: Bearer TOKEN` (API, /metrics, scripts) or, in a browser, a
 * session cookie the login form sets. The cookie holds an HMAC of the token, not the token, so a leaked cookie
 * does not give out the token, and it is HttpOnly and SameSite=Strict.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { PithError } from '../errors.ts';

export interface Listen {
  host: string;
  port: number;
  /** As written. */
  text: string;
}

/** HOST:PORT or [IPv6]:PORT; port 0 asks for any free one. */
export function parseListen(text: string, what = '--listen'): Listen {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65_535) throw new PithError('SERVE_LISTEN_INVALID', `${what}: expected HOST:PORT (such as 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080), found ${JSON.stringify(text)}`);
  return { host: m[1] ?? m[2]!, port, text };
}

/** 127.0.0.0/8, ::1 and `localhost`: only this machine reaches them. */
export function loopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || /^::ffff:127\./i.test(host) || /^(0+:){7}0*1$/.test(host);
  return false;
}

export const MIN_TOKEN_LENGTH = 16;

/** Refuses to listen beyond loopback without a token, or with one short enough to guess. */
export function checkListen(listen: Listen, token: string | undefined): void {
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new PithError('SERVE_TOKEN_REQUIRED', `PITH_SERVE_TOKEN: expected at least ${MIN_TOKEN_LENGTH} characters (e.g. \`openssl rand -hex 32\`), found ${token.length}`);
  }
  if (!loopback(listen.host) && token === undefined) {
    throw new PithError('SERVE_TOKEN_REQUIRED', `--listen ${listen.text} is not a loopback address: anyone who reaches it could read the fleet's inventory. Set PITH_SERVE_TOKEN (e.g. \`export PITH_SERVE_TOKEN=$(openssl rand -hex 32)\`), or listen on 127.0.0.1`);
  }
}

export const SESSION_COOKIE = 'pith_serve_session';

export interface TokenChecker {
  /** The request carries the token (Bearer) or the session cookie. */
  allows(req: IncomingMessage): boolean;
  /** A login form's token: right or wrong, in constant time. */
  matches(given: string): boolean;
  /** The cookie value a right login sets. */
  readonly session: string;
}

export function tokenChecker(token: string): TokenChecker {
  // Compared as digests: equal lengths for timingSafeEqual whatever was sent, and no length leaked.
  const digest = (s: string) => createHash('sha256').update(s).digest();
  const want = digest(token);
  const session = createHmac('sha256', token).update('pith serve session').digest('base64url');
  const wantSession = digest(session);
  const matches = (given: string) => timingSafeEqual(digest(given), want);
  return {
    session,
    matches,
    allows(req) {
      const header = req.headers.authorization;
      if (header !== undefined) {
        const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
        return m !== null && matches(m[1]!);
      }
      const cookie = cookies(req.headers.cookie)[SESSION_COOKIE];
      return cookie !== undefined && timingSafeEqual(digest(cookie), wantSession);
    },
  };
}

function cookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}
