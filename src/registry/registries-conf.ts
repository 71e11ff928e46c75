/**
 * Where a registry reference is really served from, read from the machine's containers-registries.conf(5) — the
 * file podman, skopeo and buildah read — and, for docker.io, the API host every docker-compatible tool uses
 * (registryApiHost, below):
 *
 * - files: `$CONTAINERS_REGISTRIES_CONF` (or the `file` option, as skopeo's `--registries-conf`), else
 *   `$HOME/.config/containers/registries.conf` when it exists, else `/etc/containers/registries.conf`; then the
 *   drop-ins `*.conf` of `/etc/containers/registries.conf.d/` (not read beside a per-user main file) and
 *   `$HOME/.config/containers/registries.conf.d/`, each directory in name order, a later `[[registry]]` replacing an
 *   earlier one with the same prefix — as containers/image's sysregistriesv2 loads them;
 * - `[[registry]]` tables: `prefix` (default: `location`) matched against the repository name, the longest match
 *   winning; `location`, the namespace that really serves it; `insecure` (plain HTTP allowed); `blocked`;
 *   `[[registry.mirror]]` tables (`location`, `insecure`, `pull-from-mirror`) and `mirror-by-digest-only`, tried in
 *   order for pulls before the location. Version 1 files (`[registries.insecure]`, `[registries.block]`) are read
 *   too. Short-name aliases and search registries are not: pith takes names as docker's grammar normalises them.
 *
 * One deliberate difference: containers/image remaps only pulls, while pith also pushes to the `location`, so that
 * a push and a later pull of one name meet at one place: a file that sends `docker.io` to an in-house registry
 * (an air-gapped site, a test) gets the pushes there too, rather than at Docker Hub.
 */
import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { PithError } from '../errors.ts';
import { DEFAULT_DOMAIN, formatReference, parseReference, type Reference } from '../oci/reference.ts';
import { compareStrings } from '../order.ts';

export interface RegistryEndpoint {
  /** host[:port][/namespace…]; "" only for a wildcard prefix, meaning "the name as given". */
  location: string;
  insecure: boolean;
  /** "file:line" of the table, for messages. */
  where: string;
}

export interface MirrorEndpoint extends RegistryEndpoint {
  pullFromMirror: 'all' | 'digest-only' | 'tag-only';
}

export interface RegistryEntry extends RegistryEndpoint {
  /** host[:port][/namespace…], or "*.domain" for every subdomain. */
  prefix: string;
  blocked: boolean;
  mirrors: MirrorEndpoint[];
  mirrorByDigestOnly: boolean;
}

export interface RegistriesConf {
  /** One per prefix, after drop-ins were merged. */
  registries: RegistryEntry[];
  /** The files read, in order, for messages. */
  files: string[];
}

export const EMPTY_REGISTRIES_CONF: RegistriesConf = { registries: [], files: [] };

export interface RegistriesConfOptions {
  env?: NodeJS.ProcessEnv;
  /** The main file instead of the environment's or the default one; it must exist. */
  file?: string;
  /** Prepended to the system paths (/etc/…), for tests. */
  root?: string;
}

/** Reads the machine's registries configuration as containers/image does. */
export async function loadRegistriesConf(options: RegistriesConfOptions = {}): Promise<RegistriesConf> {
  const env = options.env ?? process.env;
  const root = options.root ?? '/';
  const home = env.HOME || homedir();
  const userFile = join(home, '.config/containers/registries.conf');
  const userDir = join(home, '.config/containers/registries.conf.d');
  const systemDir = join(root, 'etc/containers/registries.conf.d');
  const named = options.file ?? (env.CONTAINERS_REGISTRIES_CONF || undefined);
  let main: string;
  let dirs: string[];
  if (named !== undefined) {
    [main, dirs] = [named, [systemDir, userDir]];
  } else if (await exists(userFile)) {
    [main, dirs] = [userFile, [userDir]];
  } else {
    [main, dirs] = [join(root, 'etc/containers/registries.conf'), [systemDir, userDir]];
  }

  const files: string[] = [];
  const byPrefix = new Map<string, RegistryEntry>();
  const text = await readText(main);
  if (text === undefined && named !== undefined) {
    throw new PithError('REGISTRIES_CONF_MISSING', `expected the registries configuration ${main} (${options.file !== undefined ? 'named by the caller' : 'named by $CONTAINERS_REGISTRIES_CONF'}), found no such file`);
  }
  if (text !== undefined) {
    files.push(main);
    for (const r of parseRegistriesConf(text, main)) byPrefix.set(r.prefix, r);
  }
  for (const dir of dirs) {
    for (const name of await confFiles(dir)) {
      const path = join(dir, name);
      const dropIn = await readText(path);
      // Removed between the listing and the read: a race containers/image ignores too.
      if (dropIn === undefined) continue;
      files.push(path);
      for (const r of parseRegistriesConf(dropIn, path, { dropIn: true })) byPrefix.set(r.prefix, r);
    }
  }
  return { registries: [...byPrefix.values()].sort((a, b) => compareStrings(a.prefix, b.prefix)), files };
}

async function exists(path: string): Promise<boolean> {
  return fs.stat(path).then(() => true, () => false);
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await fs.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PithError('REGISTRIES_CONF_UNREADABLE', `expected to read the registries configuration ${path}, found ${(e as Error).message}`, { cause: e });
  }
}

async function confFiles(dir: string): Promise<string[]> {
  try {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    return entries.filter((e) => !e.isDirectory() && e.name.endsWith('.conf')).map((e) => e.name).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw new PithError('REGISTRIES_CONF_UNREADABLE', `expected to list the registries drop-in directory ${dir}, found ${(e as Error).message}`, { cause: e });
  }
}

// ------------------------------------------------------------------------------------------------------- parsing

/**
 * Lines of the `[[registry]]` and `[[registry.mirror]]` headers and of the keys under them, so a message can name
 * the line of a table the TOML parser has already turned into plain objects. Tables written inline
 * (`registry = [{…}]`) get the line of their key.
 */
interface TableLines {
  line: number;
  keys: Map<string, number>;
  mirrors: Array<{ line: number; keys: Map<string, number> }>;
}

function tableLines(text: string): { registries: TableLines[]; keys: Map<string, number> } {
  const registries: TableLines[] = [];
  const topKeys = new Map<string, number>();
  let keys = topKeys;
  let current: TableLines | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const header = /^\s*\[\[?\s*([^\]]+?)\s*\]\]?/.exec(raw);
    if (header) {
      const name = header[1]!.replace(/\s*\.\s*/g, '.').replace(/"/g, '');
      if (name === 'registry' && raw.trim().startsWith('[[')) {
        current = { line, keys: new Map(), mirrors: [] };
        registries.push(current);
        keys = current.keys;
      } else if (name === 'registry.mirror' && current) {
        const mirror = { line, keys: new Map<string, number>() };
        current.mirrors.push(mirror);
        keys = mirror.keys;
      } else {
        keys = new Map();
        if (!name.startsWith('registry.')) current = undefined;
      }
      return;
    }
    const key = /^\s*"?([A-Za-z0-9_-]+)"?\s*=/.exec(raw);
    if (key && !keys.has(key[1]!)) keys.set(key[1]!, line);
  });
  return { registries, keys: topKeys };
}

const PULL_FROM_MIRROR = ['all', 'digest-only', 'tag-only'] as const;

/**
 * One registries.conf file's `[[registry]]` entries, normalised as containers/image does (prefix defaults to the
 * location, trailing slashes dropped); a malformed file is refused with its file:line.
 */
export function parseRegistriesConf(text: string, path: string, options: { dropIn?: boolean } = {}): RegistryEntry[] {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split('\n')[0]!.replace(/^Invalid TOML document:\s*/, '');
      throw new PithError('REGISTRIES_CONF_INVALID', `${path}:${e.line}:${e.column}: expected TOML (containers-registries.conf(5)), found ${first}`, { cause: e });
    }
    throw e;
  }
  const lines = tableLines(text);
  const at = (line: number | undefined) => `${path}${line === undefined ? '' : `:${line}`}`;
  const fail = (line: number | undefined, message: string) => new PithError('REGISTRIES_CONF_INVALID', `${at(line)}: ${message}`);

  const v1 = doc.registries;
  const v2 = doc.registry;
  if (v1 !== undefined && hasV1Entries(v1)) {
    if (options.dropIn) throw fail(lines.keys.get('registries') ?? findHeader(text, 'registries'), 'expected a drop-in file in the version 2 format ([[registry]] tables), found the version 1 [registries.*] tables');
    if (v2 !== undefined) throw fail(findHeader(text, 'registries'), 'expected either version 1 [registries.*] tables or version 2 [[registry]] tables, found both');
    return fromV1(v1 as Record<string, unknown>, path, text, fail);
  }
  if (v2 === undefined) return [];
  if (!Array.isArray(v2)) throw fail(lines.keys.get('registry') ?? findHeader(text, 'registry'), 'expected [[registry]] tables (an array of tables), found a single value');

  const entries: RegistryEntry[] = [];
  v2.forEach((raw: unknown, i: number) => {
    const tl = lines.registries[i];
    const line = tl?.line ?? lines.keys.get('registry');
    const keyLine = (k: string) => tl?.keys.get(k) ?? line;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw fail(line, `expected [[registry]] number ${i + 1} to be a table, found ${JSON.stringify(raw)}`);
    const r = raw as Record<string, unknown>;
    const str = (k: string, from = r, lineOf = keyLine) => {
      const v = from[k];
      if (v === undefined) return '';
      if (typeof v !== 'string') throw fail(lineOf(k), `expected "${k}" to be a string, found ${JSON.stringify(v)}`);
      return v;
    };
    const bool = (k: string, from = r, lineOf = keyLine) => {
      const v = from[k];
      if (v === undefined) return false;
      if (typeof v !== 'boolean') throw fail(lineOf(k), `expected "${k}" to be true or false, found ${JSON.stringify(v)}`);
      return v;
    };
    const location = parseLocation(str('location'), keyLine('location'), fail);
    let prefix = str('prefix') === '' ? location : parseLocation(str('prefix'), keyLine('prefix'), fail);
    if (prefix === '') throw fail(line, 'expected a [[registry]] to have a "location" or a "prefix", found neither');
    if (prefix.startsWith('*.')) {
      if (/[/@:]/.test(prefix)) throw fail(keyLine('prefix'), `expected a wildcard prefix to be "*.domain" with no port, namespace, tag or digest, found "${prefix}"`);
    } else if (location === '') {
      throw fail(keyLine('location'), `expected a "location" for the prefix "${prefix}" (only a wildcard prefix "*.domain" may go without one)`);
    }
    if (r['pull-from-mirror'] !== undefined) throw fail(keyLine('pull-from-mirror'), `expected "pull-from-mirror" only in [[registry.mirror]] tables, found it on the registry "${prefix}"`);
    if (location !== '') checkLocation(location, keyLine('location'), fail);
    const mirrorByDigestOnly = bool('mirror-by-digest-only');
    const rawMirrors = r.mirror ?? [];
    if (!Array.isArray(rawMirrors)) throw fail(keyLine('mirror'), 'expected [[registry.mirror]] tables (an array of tables)');
    const mirrors = rawMirrors.map((m: unknown, j: number): MirrorEndpoint => {
      const ml = tl?.mirrors[j];
      const mLine = (k: string) => ml?.keys.get(k) ?? ml?.line ?? line;
      if (m === null || typeof m !== 'object' || Array.isArray(m)) throw fail(ml?.line ?? line, `expected [[registry.mirror]] number ${j + 1} of "${prefix}" to be a table`);
      const mr = m as Record<string, unknown>;
      const mirrorLocation = parseLocation(str('location', mr, mLine), mLine('location'), fail);
      if (mirrorLocation === '') throw fail(ml?.line ?? line, `expected a "location" in [[registry.mirror]] number ${j + 1} of "${prefix}", found none`);
      checkLocation(mirrorLocation, mLine('location'), fail);
      const pull = str('pull-from-mirror', mr, mLine) || 'all';
      if (!(PULL_FROM_MIRROR as readonly string[]).includes(pull)) throw fail(mLine('pull-from-mirror'), `expected "pull-from-mirror" to be one of ${PULL_FROM_MIRROR.join(', ')}, found "${pull}"`);
      if (mirrorByDigestOnly && mr['pull-from-mirror'] !== undefined) {
        throw fail(mLine('pull-from-mirror'), `expected either "mirror-by-digest-only" on "${prefix}" or "pull-from-mirror" on its mirrors, found both`);
      }
      return { location: mirrorLocation, insecure: bool('insecure', mr, mLine), pullFromMirror: pull as MirrorEndpoint['pullFromMirror'], where: at(ml?.line ?? line) };
    });
    prefix = prefix.replace(/\/+$/, '');
    entries.push({ prefix, location, insecure: bool('insecure'), blocked: bool('blocked'), mirrors, mirrorByDigestOnly, where: at(line) });
  });

  // One location named twice must not be both secure and insecure, or both blocked and not.
  for (const a of entries) {
    for (const b of entries) {
      const key = (e: RegistryEntry) => e.location || e.prefix;
      if (a === b || key(a) !== key(b)) continue;
      for (const field of ['insecure', 'blocked'] as const) {
        if (a[field] !== b[field]) throw fail(undefined, `expected the registry "${key(a)}" to have one "${field}" setting, found ${a[field]} at ${a.where} and ${b[field]} at ${b.where}`);
      }
    }
  }
  // The first of several tables with one prefix wins, as in containers/image.
  const seen = new Set<string>();
  return entries.filter((e) => !seen.has(e.prefix) && seen.add(e.prefix));
}

function findHeader(text: string, name: string): number | undefined {
  const i = text.split('\n').findIndex((l) => new RegExp(`^\\s*\\[\\[?\\s*${name.replace('.', '\\.')}\\b`).test(l));
  return i === -1 ? undefined : i + 1;
}

function parseLocation(value: string, line: number | undefined, fail: (line: number | undefined, message: string) => PithError): string {
  const trimmed = value.replace(/\/+$/, '');
  if (/^https?:\/\//.test(trimmed)) throw fail(line, `expected host[:port][/namespace] without a URL scheme, found "${value}"`);
  return trimmed;
}

/**
 * A location must itself be a fully qualified name, so a rewritten reference lands where the file says. The probe
 * has two components so that `location = "docker.io"` (the usual table beside a Docker Hub mirror) passes: one
 * component would get the grammar's "library/" and no longer read back as written.
 */
function checkLocation(location: string, line: number | undefined, fail: (line: number | undefined, message: string) => PithError): void {
  const probe = `${location}/x/y`;
  let parsed: Reference | undefined;
  try {
    parsed = parseReference(probe);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || `${parsed.domain}/${parsed.path}` !== probe) {
    throw fail(line, `expected a location "host[:port][/namespace]" with a registry host first (a "." or ":" in it, or "localhost"), found "${location}"`);
  }
}

function hasV1Entries(v1: unknown): boolean {
  if (v1 === null || typeof v1 !== 'object') return false;
  return ['search', 'insecure', 'block'].some((k) => {
    const list = (v1 as Record<string, { registries?: unknown }>)[k]?.registries;
    return Array.isArray(list) && list.length > 0;
  });
}

/** The version 1 format: lists of registries that are insecure or blocked, each becoming a [[registry]]. */
function fromV1(v1: Record<string, unknown>, path: string, text: string, fail: (line: number | undefined, message: string) => PithError): RegistryEntry[] {
  const byLocation = new Map<string, RegistryEntry>();
  for (const [section, field] of [['block', 'blocked'], ['insecure', 'insecure']] as const) {
    const line = findHeader(text, `registries.${section}`);
    const list = (v1[section] as { registries?: unknown } | undefined)?.registries ?? [];
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) throw fail(line, `expected [registries.${section}] registries to be a list of strings`);
    for (const raw of list as string[]) {
      const location = parseLocation(raw, line, fail);
      if (location === '') throw fail(line, `expected a registry in [registries.${section}], found an empty string`);
      let e = byLocation.get(location);
      if (!e) byLocation.set(location, (e = { prefix: location, location, insecure: false, blocked: false, mirrors: [], mirrorByDigestOnly: false, where: `${path}${line === undefined ? '' : `:${line}`}` }));
      e[field] = true;
    }
  }
  return [...byLocation.values()];
}

// ------------------------------------------------------------------------------------------------------ matching

/** The length of `prefix` when the repository name (host/path) starts with it, else -1 (containers/image's rules). */
function matchLength(name: string, prefix: string): number {
  if (prefix.startsWith('*.')) {
    const suffix = prefix.slice(1);
    const index = name.indexOf(suffix);
    if (index === -1 || name.slice(0, index).includes('/')) return -1;
    const end = index + suffix.length;
    return end === name.length || ':/@'.includes(name[end]!) ? end : -1;
  }
  if (name === prefix) return prefix.length;
  return name.startsWith(prefix) && ':/@'.includes(name[prefix.length] ?? '') ? prefix.length : -1;
}

/** The entry whose prefix is the longest that matches the repository name "host/path", if any. */
export function findRegistry(conf: RegistriesConf, name: string): RegistryEntry | undefined {
  let best: RegistryEntry | undefined;
  for (const r of conf.registries) {
    if (matchLength(name, r.prefix) !== -1 && r.prefix.length > (best?.prefix.length ?? 0)) best = r;
  }
  return best;
}

/** Where one attempt at a reference goes. */
export interface Endpoint {
  /** The reference as the serving registry names it. */
  reference: Reference;
  /** host[:port] the API requests go to: registryApiHost of the reference's registry. */
  host: string;
  /** Plain HTTP allowed (besides loopback registries, which always may). */
  insecure: boolean;
  /** A mirror, tried before the location: credentials are looked up for it alone, never the logical name's. */
  mirror: boolean;
  /** For messages: e.g. 'the mirror 127.0.0.1:5001/cache (/etc/containers/registries.conf:12)'. */
  description: string;
}

function rewrite(ref: Reference, entry: RegistryEntry, location: string, where: string): Reference {
  if (location === '') return ref;
  const name = `${ref.domain}/${ref.path}`;
  const rest = name.slice(matchLength(name, entry.prefix));
  const tail = `${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
  try {
    return parseReference(`${location}${rest}${tail}`);
  } catch (e) {
    throw new PithError('REGISTRIES_CONF_INVALID', `${where}: the location "${location}" turns ${formatReference(ref)} into "${location}${rest}${tail}", which is not a valid reference`, { cause: e });
  }
}

function refuseBlocked(name: string, entry: RegistryEntry | undefined, action: string): void {
  if (entry?.blocked) {
    throw new PithError('REGISTRY_BLOCKED', `expected to ${action} ${name}, found its registry blocked by the [[registry]] with prefix "${entry.prefix}" at ${entry.where}`);
  }
}

/**
 * Where to pull a reference from, in order: the entry's mirrors (those its `mirror-by-digest-only` or their
 * `pull-from-mirror` allow for this reference), then its location. A blocked entry is refused.
 */
export function pullEndpoints(conf: RegistriesConf, ref: Reference): Endpoint[] {
  const entry = findRegistry(conf, `${ref.domain}/${ref.path}`);
  refuseBlocked(formatReference(ref), entry, 'pull');
  if (!entry) return [unmapped(ref)];
  const byDigest = ref.digest !== undefined;
  const mirrors = entry.mirrors.filter((m) =>
    entry.mirrorByDigestOnly ? byDigest : m.pullFromMirror === 'all' || (m.pullFromMirror === 'digest-only') === byDigest);
  return [
    ...mirrors.map((m) => {
      const reference = rewrite(ref, entry, m.location, m.where);
      return { reference, host: registryApiHost(reference.domain), insecure: m.insecure, mirror: true, description: `the mirror ${formatReference(reference)} (${m.where})` };
    }),
    primary(ref, entry),
  ];
}

/** Where to push a reference (or read it without mirrors): its entry's location. A blocked entry is refused. */
export function primaryEndpoint(conf: RegistriesConf, ref: Reference, action = 'push to'): Endpoint {
  const entry = findRegistry(conf, `${ref.domain}/${ref.path}`);
  refuseBlocked(formatReference(ref), entry, action);
  return entry ? primary(ref, entry) : unmapped(ref);
}

function unmapped(ref: Reference): Endpoint {
  return { reference: ref, host: registryApiHost(ref.domain), insecure: false, mirror: false, description: formatReference(ref) };
}

function primary(ref: Reference, entry: RegistryEntry): Endpoint {
  const reference = rewrite(ref, entry, entry.location, entry.where);
  const moved = reference.domain !== ref.domain || reference.path !== ref.path;
  return { reference, host: registryApiHost(reference.domain), insecure: entry.insecure, mirror: false, description: moved ? `${formatReference(reference)} (the location of "${entry.prefix}", ${entry.where})` : formatReference(reference) };
}

/**
 * The host a registry name (host[:port], as `pith login` takes it) is served from: the location's host of the
 * entry whose prefix is that host, or matches it by wildcard.
 */
export function registryHost(conf: RegistriesConf, registry: string): { host: string; insecure: boolean } {
  const entry = findRegistry(conf, registry);
  refuseBlocked(registry, entry, 'log in to');
  if (!entry || entry.location === '') return { host: registry, insecure: entry?.insecure ?? false };
  return { host: entry.location.split('/')[0]!, insecure: entry.insecure };
}

/**
 * The host whose distribution API serves docker.io, the registry docker's grammar gives unqualified names
 * (`debian`, `team/app`). `docker.io` itself answers no registry API: docker, podman, skopeo and crane all send its
 * requests elsewhere — containers/image's docker/docker_client.go `newDockerClient` swaps `dockerHostname`
 * ("docker.io") for `dockerRegistry` ("registry-1.docker.io") as it makes the client, after registries.conf has
 * chosen the registry; go-containerregistry's pkg/name/registry.go `NewRegistry` rewrites "docker.io" to
 * "index.docker.io", another name for the same API. pith does as containers/image does.
 */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';

/**
 * host[:port] that API requests for a registry name go to. Applied to the registry that registries.conf chose (the
 * location or a mirror), never to the name the user wrote, so a `docker.io` remap wins; a table whose location is
 * `docker.io` reaches Docker Hub like an unmapped name. The name itself stays what credentials are looked up under
 * (docker's key for it) and what messages say.
 */
export function registryApiHost(domain: string): string {
  return domain === DEFAULT_DOMAIN ? DOCKER_HUB_API_HOST : domain;
}
