import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PithError } from '../errors.ts';
import { parseDeb822 } from './deb822.ts';

/**
 * One archive location pith reads indexes from, as apt understands its sources.
 * The parsers below emit one entry per URI and suite (a deb822 stanza with two URIs and two suites gives four),
 * so `suites` always has one element when it comes from a file; it is a list for symmetry with the spec.
 */
export interface SourceEntry {
  /** No trailing slash. */
  uri: string;
  suites: string[];
  components: string[];
  /** From `[arch=...]` or `Architectures:`. */
  architectures?: string[];
  /**
   * Keyring path(s), comma-separated, or an inline armored key block (deb822 `Signed-By` may hold one).
   * Handed as-is to `loadKeyring` in release.ts.
   */
  signedBy?: string;
  /** `file:line` it came from, for messages. */
  where?: string;
}

export interface SourcesOptions {
  /** Receives warnings (an ignored `trusted=yes`, …). Defaults to `process.emitWarning`. */
  onWarning?: (message: string) => void;
}

/**
 * Only these schemes are read. `cdrom:` needs a mounted medium and apt's own database, `mirror+…` and `tor+…` are
 * apt transport methods with their own resolution rules, `ftp:` was dropped by apt itself: rather than silently
 * skipping such an entry (which would change the package set without a word), pith refuses it and names the line.
 */
const SUPPORTED_SCHEMES = new Set(['http', 'https', 'file']);

/**
 * Options that would let apt accept unverified or stale data. pith always verifies the InRelease signature and
 * dates, so these are ignored — with a warning, so nobody believes they took effect.
 */
const IGNORED_SECURITY_OPTIONS = new Set([
  'trusted',
  'allow-insecure',
  'allow-weak',
  'allow-downgrade-to-insecure',
  'check-valid-until',
  'check-date',
  'date-max-future',
  'valid-until-min',
  'valid-until-max',
]);

/** Parses the one-line format (`sources.list`, `*.list`). `deb-src` lines are skipped. */
export function parseSourcesList(text: string, file: string, options: SourcesOptions = {}): SourceEntry[] {
  const entries: SourceEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const entry = parseOneLine(lines[i]!, `${file}:${i + 1}`, options);
    if (entry !== null) entries.push(entry);
  }
  return entries;
}

/**
 * Parses one `--source` value in the one-line format, e.g.
 * `deb [signed-by=/k.gpg arch=amd64] URI SUITE COMPONENT...`. Only a `deb` entry is accepted.
 */
export function parseSourceLine(line: string, where = '--source', options: SourcesOptions = {}): SourceEntry {
  const entry = parseOneLine(line, where, options);
  if (entry === null) {
    throw new PithError(
      'SOURCES_MALFORMED',
      `${where}: expected "deb [options] URI SUITE COMPONENT...", found ${JSON.stringify(line)}`,
    );
  }
  return entry;
}

/** Parses the deb822 format (`*.sources`). */
export function parseDeb822Sources(text: string, file: string, options: SourcesOptions = {}): SourceEntry[] {
  let stanzas;
  try {
    stanzas = parseDeb822(text, { source: file });
  } catch (e) {
    if (e instanceof PithError) throw new PithError('SOURCES_MALFORMED', e.message, { cause: e });
    throw e;
  }
  const entries: SourceEntry[] = [];
  for (const { fields, line } of stanzas) {
    const where = `${file}:${line}`;
    const enabled = fields['enabled'];
    if (enabled !== undefined && !parseBool(enabled, 'Enabled', where)) continue;

    const types = words(required(fields, 'types', where));
    for (const t of types) {
      if (t !== 'deb' && t !== 'deb-src') {
        throw new PithError('SOURCES_MALFORMED', `${where}: expected Types "deb" or "deb-src", found ${JSON.stringify(t)}`);
      }
    }
    if (!types.includes('deb')) continue;

    const uris = words(required(fields, 'uris', where)).map((u) => checkUri(u, where));
    const suites = words(required(fields, 'suites', where));
    const components = words(fields['components'] ?? '');
    for (const suite of suites) checkSuite(suite, components, where);

    for (const [name, value] of Object.entries(fields)) {
      if (IGNORED_SECURITY_OPTIONS.has(name)) warn(options, `${where}: ignoring "${name}: ${value}": pith always verifies the InRelease signature and dates`);
    }
    const architectures = fields['architectures'] !== undefined ? list(fields['architectures']) : undefined;
    const signedBy = fields['signed-by'] !== undefined ? normaliseSignedBy(fields['signed-by'], where) : undefined;

    for (const uri of uris) {
      for (const suite of suites) {
        entries.push(makeEntry(uri, suite, components, architectures, signedBy, where));
      }
    }
  }
  return entries;
}

/**
 * Reads the machine's apt sources the way apt does: `etc/apt/sources.list`, then the files of
 * `etc/apt/sources.list.d/` named `*.list` or `*.sources` in sorted order. Other names (`*.save`,
 * `*.disabled-by-farm`, editor backups) are ignored, as are names with characters apt ignores.
 */
export function loadAptSources(options: { root?: string } & SourcesOptions = {}): SourceEntry[] {
  const root = options.root ?? '/';
  const entries: SourceEntry[] = [];
  const main = join(root, 'etc/apt/sources.list');
  const mainText = readIfExists(main);
  if (mainText !== null) entries.push(...parseSourcesList(mainText, main, options));

  const dir = join(root, 'etc/apt/sources.list.d');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if (isNotFound(e)) return entries;
    throw new PithError('SOURCES_UNREADABLE', `${dir}: expected a readable directory of apt sources: ${errorText(e)}`, { cause: e });
  }
  // apt sorts with strcmp; for the ASCII names it accepts, the default sort is the same order.
  names.sort();
  for (const name of names) {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) continue;
    const path = join(dir, name);
    if (name.endsWith('.list')) {
      const text = readIfExists(path);
      if (text !== null) entries.push(...parseSourcesList(text, path, options));
    } else if (name.endsWith('.sources')) {
      const text = readIfExists(path);
      if (text !== null) entries.push(...parseDeb822Sources(text, path, options));
    }
  }
  return entries;
}

function parseOneLine(raw: string, where: string, options: SourcesOptions): SourceEntry | null {
  // apt cuts every line at the first '#', so trailing comments work too.
  const hash = raw.indexOf('#');
  const line = (hash === -1 ? raw : raw.slice(0, hash)).trim();
  if (line === '') return null;

  const typeMatch = /^(\S+)\s*/.exec(line)!;
  let type = typeMatch[1]!;
  let rest = line.slice(typeMatch[0].length);
  // "deb[arch=amd64]" is accepted by apt as well.
  const bracketInType = type.indexOf('[');
  if (bracketInType !== -1) {
    rest = type.slice(bracketInType) + ' ' + rest;
    type = type.slice(0, bracketInType);
  }
  if (type !== 'deb' && type !== 'deb-src') {
    throw new PithError('SOURCES_MALFORMED', `${where}: expected type "deb" or "deb-src", found ${JSON.stringify(type)} in ${JSON.stringify(raw.trim())}`);
  }

  let optionText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close === -1) {
      throw new PithError('SOURCES_MALFORMED', `${where}: expected "]" to close the options that start with "[", found none in ${JSON.stringify(raw.trim())}`);
    }
    optionText = rest.slice(1, close);
    rest = rest.slice(close + 1);
  }
  const parts = rest.trim().split(/\s+/).filter((p) => p !== '');
  if (parts.length < 2) {
    throw new PithError(
      'SOURCES_MALFORMED',
      `${where}: expected "${type} [options] URI SUITE COMPONENT...", found ${parts.length === 0 ? 'no URI' : 'no suite'} in ${JSON.stringify(raw.trim())}`,
    );
  }
  if (type === 'deb-src') return null;

  const uri = checkUri(parts[0]!, where);
  const suite = parts[1]!;
  const components = parts.slice(2);
  checkSuite(suite, components, where);

  let architectures: string[] | undefined;
  let signedBy: string | undefined;
  if (optionText !== undefined) {
    for (const opt of optionText.trim().split(/\s+/).filter((o) => o !== '')) {
      const m = /^([A-Za-z][A-Za-z0-9-]*)([+-]?=)(.*)$/.exec(opt);
      if (m === null || m[3] === '') {
        throw new PithError('SOURCES_MALFORMED', `${where}: expected an option "name=value" inside [ ], found ${JSON.stringify(opt)}`);
      }
      const name = m[1]!.toLowerCase();
      const op = m[2]!;
      const value = m[3]!;
      if (IGNORED_SECURITY_OPTIONS.has(name)) {
        warn(options, `${where}: ignoring "${opt}": pith always verifies the InRelease signature and dates`);
      } else if ((name === 'arch' || name === 'architectures') && op === '=') {
        architectures = list(value);
      } else if (name === 'signed-by' && op === '=') {
        signedBy = normaliseSignedBy(value, where);
      }
      // Other options (lang=, target=, pdiffs=, by-hash=, arch+=, …) tune apt's downloads and don't change
      // what pith resolves against.
    }
  }
  return makeEntry(uri, suite, components, architectures, signedBy, where);
}

function makeEntry(
  uri: string,
  suite: string,
  components: string[],
  architectures: string[] | undefined,
  signedBy: string | undefined,
  where: string,
): SourceEntry {
  const entry: SourceEntry = { uri, suites: [suite], components: [...components] };
  if (architectures !== undefined) entry.architectures = [...architectures];
  if (signedBy !== undefined) entry.signedBy = signedBy;
  entry.where = where;
  return entry;
}

function checkUri(uri: string, where: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri);
  if (m === null) {
    throw new PithError('SOURCES_MALFORMED', `${where}: expected a URI such as http://HOST/PATH, found ${JSON.stringify(uri)}`);
  }
  const scheme = m[1]!.toLowerCase();
  if (!SUPPORTED_SCHEMES.has(scheme)) {
    throw new PithError(
      'SOURCES_UNSUPPORTED',
      `${where}: expected an http:, https: or file: URI, found ${JSON.stringify(uri)}; pith does not read "${scheme}:" sources — disable this entry or pass --source`,
    );
  }
  return uri.replace(/\/+$/, '');
}

/**
 * A suite ending in "/" is a flat repository (indexes next to the suite path, no dists/ tree). pith refuses it:
 * its index and by-hash handling assumes the dists/SUITE/COMPONENT layout that Debian archives use.
 */
function checkSuite(suite: string, components: string[], where: string): void {
  if (suite.endsWith('/')) {
    throw new PithError(
      'SOURCES_UNSUPPORTED',
      `${where}: expected a suite with components (dists/SUITE layout), found the flat repository suite ${JSON.stringify(suite)}; pith does not read flat repositories`,
    );
  }
  if (components.length === 0) {
    throw new PithError('SOURCES_MALFORMED', `${where}: expected at least one component after suite ${JSON.stringify(suite)}, found none`);
  }
}

/**
 * `Signed-By` holds either keyring paths (apt separates them with commas; whitespace is accepted too) or, in
 * deb822, an inline armored key whose empty lines are written as ".".
 */
function normaliseSignedBy(value: string, where: string): string {
  const trimmed = value.trim();
  if (trimmed.startsWith('-----BEGIN PGP')) {
    return trimmed
      .split('\n')
      .map((l) => {
        const t = l.trim();
        return t === '.' ? '' : t;
      })
      .join('\n');
  }
  const paths = list(trimmed);
  if (paths.length === 0) {
    throw new PithError('SOURCES_MALFORMED', `${where}: expected a keyring path or an inline key in Signed-By, found nothing`);
  }
  return paths.join(',');
}

function required(fields: Record<string, string>, name: string, where: string): string {
  const v = fields[name];
  if (v === undefined || v.trim() === '') {
    const pretty = name === 'uris' ? 'URIs' : name[0]!.toUpperCase() + name.slice(1);
    throw new PithError('SOURCES_MALFORMED', `${where}: expected a "${pretty}:" field in this stanza, found ${v === undefined ? 'none' : 'an empty one'}`);
  }
  return v;
}

/** apt's StringToBool vocabulary. */
function parseBool(value: string, field: string, where: string): boolean {
  const v = value.trim().toLowerCase();
  if (['yes', 'true', 'with', 'on', 'enable', '1'].includes(v)) return true;
  if (['no', 'false', 'without', 'off', 'disable', '0'].includes(v)) return false;
  throw new PithError('SOURCES_MALFORMED', `${where}: expected "${field}: yes" or "${field}: no", found ${JSON.stringify(value)}`);
}

function words(value: string): string[] {
  return value.split(/\s+/).filter((w) => w !== '');
}

function list(value: string): string[] {
  return value.split(/[\s,]+/).filter((w) => w !== '');
}

function warn(options: SourcesOptions, message: string): void {
  if (options.onWarning) options.onWarning(message);
  else process.emitWarning(message, { code: 'PITH_SOURCES' });
}

function readIfExists(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (isNotFound(e)) return null;
    throw new PithError('SOURCES_UNREADABLE', `${path}: expected a readable apt sources file: ${errorText(e)}`, { cause: e });
  }
}

function isNotFound(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'ENOENT';
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
