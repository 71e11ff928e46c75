/**
 * Image references as docker names them (distribution/reference: `reference.go` for the grammar, `normalize.go`
 * for the normalisation every docker-compatible tool applies), so `pith push app:1 …`, `registry:5000/team/app`
 * and `team/app@sha256:…` mean what they mean to docker and podman.
 */
import { PithError } from '../errors.ts';
import { isDigest, type Digest } from './digest.ts';

/**
 * The registry docker's grammar sends a name without a registry part to, and the legacy spelling it folds into it.
 * These are constants of the reference grammar itself (normalize.go's `defaultDomain` and `legacyDefaultDomain`),
 * named here once. They are names, not endpoints: the host that serves the default registry's API is the
 * transport's business (registry/registries-conf.ts, registryApiHost).
 */
export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
/** normalize.go's `officialRepoName`: one-component names on the default registry live under it. */
const OFFICIAL_REPO = 'library';

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
/** host[:port]: a dotted name or IPv4 address, or a bracketed IPv6 address. */
export const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
export const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
export const NAME = new RegExp(`^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
export const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const NAME_TOTAL_LENGTH_MAX = 255;

export interface Reference {
  /** The registry: host[:port]; DEFAULT_DOMAIN when the name had none. */
  domain: string;
  /** The repository inside the registry, e.g. "team/app" or "library/debian". */
  path: string;
  /** "latest" when neither a tag nor a digest was given, as docker pulls and pushes. */
  tag?: string;
  digest?: Digest;
}

/**
 * Parses and normalises a reference: the first component is the registry when it holds a "." or ":", is
 * "localhost", or has an upper-case letter (normalize.go's splitDockerDomain); otherwise the name is on the
 * default registry, where a single component gets the official-image prefix.
 */
export function parseReference(text: string, where = 'an image reference'): Reference {
  const bad = (why: string) =>
    new PithError('OCI_BAD_REFERENCE', `expected an image reference like "registry.example:5000/team/app:1.0" or "app@sha256:<64 hex>" in ${where}, found ${JSON.stringify(text)}: ${why}`);
  let rest = text;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw bad(`"${d}" is not a sha256 digest of 64 lower-case hex digits`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`the tag "${tag}" must be letters, digits, "_", "." and "-" (not first), at most 128`);
  }
  const slash = rest.indexOf('/');
  const first = slash === -1 ? '' : rest.slice(0, slash);
  let domain: string;
  let path: string;
  if (slash === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    path = rest;
  } else {
    domain = first;
    path = rest.slice(slash + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (!DOMAIN_RE.test(domain)) throw bad(`"${domain}" is not a registry host[:port]`);
  if (path !== path.toLowerCase() && PATH_RE.test(path.toLowerCase())) throw bad('repository names must be lower-case');
  if (!PATH_RE.test(path)) throw bad(`"${path}" is not a repository path (lower-case components of letters and digits, joined by "/", with ".", "_", "__" or "-" inside)`);
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `${OFFICIAL_REPO}/${path}`;
  if (`${domain}/${path}`.length > NAME_TOTAL_LENGTH_MAX) throw bad(`the name is longer than ${NAME_TOTAL_LENGTH_MAX} characters`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { domain, path, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

/** The fully qualified form, e.g. "127.0.0.1:5000/team/app:1.0@sha256:…". */
/** The reference `text` names, or undefined when it names none (a template expression, a typo): for readers of files that may hold either. */
export function tryParseReference(text: string): Reference | undefined {
  try {
    return parseReference(text);
  } catch {
    return undefined;
  }
}

export function formatReference(r: Reference): string {
  return `${r.domain}/${r.path}${r.tag === undefined ? '' : `:${r.tag}`}${r.digest === undefined ? '' : `@${r.digest}`}`;
}

/** What a registry's manifest endpoint is asked for: the digest when there is one (it pins), else the tag. */
export function manifestReference(r: Reference): string {
  return r.digest ?? r.tag ?? 'latest';
}
