import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type * as openpgp from 'openpgp';
import { PithError } from '../errors.ts';
import { parseDeb822 } from './deb822.ts';

export interface ReleaseFile {
  path: string;
  size: number;
  sha256: string;
}

export interface VerifiedRelease {
  /** The signed text, as verified: every field below is read only from it. */
  text: string;
  /** sha256 hex of the InRelease bytes as fetched. */
  digest: string;
  /** All fields of the Release paragraph, names lower-cased. */
  fields: Record<string, string>;
  suite?: string;
  codename?: string;
  origin?: string;
  label?: string;
  date: Date;
  validUntil?: Date;
  acquireByHash: boolean;
  /** `No-Support-for-Architecture-all: Packages`: arch-all packages are listed in every binary-ARCH index. */
  noSupportForArchitectureAll: boolean;
  architectures: string[];
  components: string[];
  /** From the SHA256 section, keyed by path, e.g. "main/binary-amd64/Packages.xz". */
  files: Map<string, ReleaseFile>;
  /** Fingerprint (upper hex) of the primary key owning the first signature that verified. */
  signer: string;
}

/** Public keys a release may be signed by, and where they came from. Treat as opaque outside this module. */
export interface Keyring {
  readonly source: string;
  readonly keys: readonly openpgp.PublicKey[];
}

/** apt's default for Acquire::Max-FutureTime. */
export const DEFAULT_MAX_FUTURE_SKEW_SECONDS = 10;

/** openpgp is large and only InRelease verification needs it: loaded on first use, so a build from a lock starts faster. */
const pgp = () => import('openpgp');

const ARMOR_BLOCK = /-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----/g;

const keyringCache = new Map<string, Promise<Keyring>>();

/**
 * Loads the keys a `Signed-By` names: a keyring file (binary `.gpg`, i.e. concatenated binary public keys, or
 * armored `.asc` — told apart by content, not by name), several such paths separated by commas, or an inline
 * armored key block. Files are cached per absolute path.
 */
export async function loadKeyring(spec: string): Promise<Keyring> {
  const trimmed = spec.trim();
  if (trimmed.startsWith('-----BEGIN PGP')) {
    return { source: 'inline Signed-By key', keys: await readArmored(trimmed, 'inline Signed-By key') };
  }
  const paths = trimmed.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (paths.length === 0) {
    throw new PithError('KEYRING_MISSING', `expected a keyring path or an armored key block, found ${JSON.stringify(spec)}`);
  }
  const rings = await Promise.all(paths.map(loadKeyringFile));
  if (rings.length === 1) return rings[0]!;
  return { source: paths.join(','), keys: rings.flatMap((r) => r.keys) };
}

function loadKeyringFile(path: string): Promise<Keyring> {
  const abs = resolve(path);
  let cached = keyringCache.get(abs);
  if (cached === undefined) {
    cached = readKeyringFile(path);
    keyringCache.set(abs, cached);
    // A failed load is not cached: the user may fix the file and retry in the same process.
    cached.catch(() => keyringCache.delete(abs));
  }
  return cached;
}

async function readKeyringFile(path: string): Promise<Keyring> {
  if (/^[0-9A-Fa-f]{16}(?:[0-9A-Fa-f]{24})?!?$/.test(path)) {
    throw new PithError(
      'KEYRING_MISSING',
      `expected a keyring file path in Signed-By, found the key fingerprint ${path}; apt looks fingerprints up in trusted.gpg.d, which pith does not read — name the keyring file instead`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new PithError('KEYRING_MISSING', `${path}: expected a readable OpenPGP keyring file: ${(e as Error).message}`, { cause: e });
  }
  const head = Buffer.from(bytes.subarray(0, 64)).toString('latin1');
  let keys: openpgp.PublicKey[];
  if (head.trimStart().startsWith('-----BEGIN PGP')) {
    keys = await readArmored(Buffer.from(bytes).toString('utf8'), path);
  } else if (head.slice(8, 12) === 'KBXf') {
    throw new PithError(
      'KEYRING_INVALID',
      `${path}: expected an OpenPGP keyring (binary or armored), found a GnuPG keybox; export it with "gpg --no-default-keyring --keyring ${path} --export > FILE.gpg"`,
    );
  } else {
    try {
      keys = (await (await pgp()).readKeys({ binaryKeys: bytes })).map((k) => k.toPublic());
    } catch (e) {
      throw new PithError('KEYRING_INVALID', `${path}: expected OpenPGP public keys, found data openpgp cannot read: ${(e as Error).message}`, { cause: e });
    }
  }
  if (keys.length === 0) throw new PithError('KEYRING_INVALID', `${path}: expected OpenPGP public keys, found none`);
  return { source: path, keys };
}

async function readArmored(text: string, source: string): Promise<openpgp.PublicKey[]> {
  const blocks = text.match(ARMOR_BLOCK) ?? [];
  if (blocks.length === 0) {
    throw new PithError('KEYRING_INVALID', `${source}: expected an armored "PGP PUBLIC KEY BLOCK", found none`);
  }
  const keys: openpgp.PublicKey[] = [];
  for (const block of blocks) {
    try {
      keys.push(...(await (await pgp()).readKeys({ armoredKeys: block })).map((k) => k.toPublic()));
    } catch (e) {
      throw new PithError('KEYRING_INVALID', `${source}: expected OpenPGP public keys, found an armored block openpgp cannot read: ${(e as Error).message}`, { cause: e });
    }
  }
  return keys;
}

export interface VerifyInReleaseOptions {
  keyring: Keyring;
  /** Where the bytes came from; named in every error. */
  url: string;
  /** The suite the source asked for: must equal the release's Suite or Codename. */
  suite: string;
  now?: Date;
  /** How far `Date` may be ahead of `now` (apt's Acquire::Max-FutureTime). Default 10. */
  maxFutureSkewSeconds?: number;
  /** A snapshot archive is frozen in the past: its Valid-Until has passed by design (the caller warns). */
  ignoreValidUntil?: boolean;
}

/**
 * Verifies a clearsigned InRelease and parses the text that was signed. Like apt, one good signature from a
 * keyring key is enough (the Debian archive signs with several keys, and a keyring may hold only some of them).
 *
 * No openpgp config change is needed for the Debian archive keyring (RSA-4096 and legacy Ed25519 keys): all of
 * its keys load and every suite's signatures verify under openpgp's defaults (the live test checks this), so
 * weak hashes and algorithms stay rejected.
 */
export async function verifyInRelease(bytes: Uint8Array, options: VerifyInReleaseOptions): Promise<VerifiedRelease> {
  const { keyring, url, suite } = options;
  const now = options.now ?? new Date();
  const skewMs = (options.maxFutureSkewSeconds ?? DEFAULT_MAX_FUTURE_SKEW_SECONDS) * 1000;
  const digest = createHash('sha256').update(bytes).digest('hex');

  let armored: string;
  try {
    armored = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new PithError('RELEASE_NOT_SIGNED', `${url}: expected a clearsigned InRelease (UTF-8 text), found bytes that are not UTF-8`);
  }
  checkClearsignStructure(armored, url);

  let message: openpgp.CleartextMessage;
  try {
    message = await (await pgp()).readCleartextMessage({ cleartextMessage: armored });
  } catch (e) {
    throw new PithError('RELEASE_NOT_SIGNED', `${url}: expected a clearsigned InRelease, found a message openpgp cannot read: ${(e as Error).message}`, { cause: e });
  }
  if (message.getSigningKeyIDs().length === 0) {
    throw new PithError('RELEASE_NOT_SIGNED', `${url}: expected at least one signature in the InRelease, found none`);
  }

  // Signatures are verified at now + skew so a signature made a few seconds "ahead" (clock skew) is tolerated
  // exactly as much as the Date field is; key validity is still judged at each signature's creation time.
  const verifyDate = new Date(now.getTime() + skewMs);
  let results: Awaited<ReturnType<openpgp.CleartextMessage['verify']>>;
  try {
    results = await message.verify([...keyring.keys], verifyDate);
  } catch (e) {
    throw new PithError('RELEASE_BAD_SIGNATURE', `${url}: expected verifiable signatures, found ones openpgp cannot process: ${(e as Error).message}`, { cause: e });
  }

  let signer: string | undefined;
  const unknown: string[] = [];
  const bad: string[] = [];
  let futureSignature: Date | undefined;
  for (const result of results) {
    const keyId = result.keyID.toHex().toUpperCase();
    const owner = keyring.keys.find((k) => k.getKeys(result.keyID).length > 0);
    if (owner === undefined) {
      unknown.push(keyId);
      continue;
    }
    try {
      await result.verified;
      signer ??= owner.getFingerprint().toUpperCase();
    } catch (e) {
      bad.push(`${keyId} (${owner.getFingerprint().toUpperCase()}): ${(e as Error).message}`);
      const created = (await result.signature).packets[0]?.created;
      if (created instanceof Date && created.getTime() > verifyDate.getTime()) futureSignature = created;
    }
  }
  if (signer === undefined) {
    if (futureSignature !== undefined) {
      throw new PithError(
        'RELEASE_FROM_FUTURE',
        `${url}: expected a signature made before ${now.toISOString()} (+${skewMs / 1000} s), found one made at ${futureSignature.toISOString()}; check the system clock`,
      );
    }
    if (bad.length > 0) {
      throw new PithError(
        'RELEASE_BAD_SIGNATURE',
        `${url}: expected a good signature by a key in ${keyring.source}, found only bad ones — the InRelease was altered or corrupted: ${bad.join('; ')}`,
      );
    }
    throw new PithError(
      'RELEASE_UNKNOWN_KEY',
      `${url}: expected a signature by one of the ${keyring.keys.length} key(s) in ${keyring.source}, found signatures only by key id(s) ${unknown.join(', ')}`,
    );
  }

  const text = message.getText();
  const release = parseRelease(text, url);

  if (release.date.getTime() > now.getTime() + skewMs) {
    throw new PithError(
      'RELEASE_FROM_FUTURE',
      `${url}: expected Date at most ${skewMs / 1000} s after now (${now.toUTCString()}), found Date: ${release.fields['date']}; check the system clock`,
    );
  }
  if (!options.ignoreValidUntil && release.validUntil !== undefined && release.validUntil.getTime() < now.getTime()) {
    throw new PithError(
      'RELEASE_EXPIRED',
      `${url}: expected Valid-Until after now (${now.toUTCString()}), found Valid-Until: ${release.fields['valid-until']} — the mirror serves stale data, or this is a replay`,
    );
  }
  if (!suiteMatches(suite, release.suite, release.codename)) {
    throw new PithError(
      'RELEASE_SUITE_MISMATCH',
      `${url}: expected Suite or Codename ${JSON.stringify(suite)}, found Suite: ${release.suite ?? '(none)'}, Codename: ${release.codename ?? '(none)'}`,
    );
  }
  return { text, digest, ...release, signer };
}

/**
 * openpgp's parser skips text around the armor; apt does not (unsigned content next to a signed message was
 * the basis of past InRelease attacks), so neither do we: exactly one signed message, nothing before, only
 * whitespace after.
 */
function checkClearsignStructure(text: string, url: string): void {
  const body = text.replace(/^\uFEFF/, '');
  if (!body.startsWith('-----BEGIN PGP SIGNED MESSAGE-----')) {
    throw new PithError(
      'RELEASE_NOT_SIGNED',
      `${url}: expected a clearsigned InRelease starting with "-----BEGIN PGP SIGNED MESSAGE-----", found ${JSON.stringify(body.slice(0, 40))}`,
    );
  }
  const count = (marker: string) => body.split(marker).length - 1;
  if (count('\n-----BEGIN PGP SIGNED MESSAGE-----') !== 0 || count('\n-----BEGIN PGP SIGNATURE-----') !== 1 || count('\n-----END PGP SIGNATURE-----') !== 1) {
    throw new PithError('RELEASE_MALFORMED', `${url}: expected exactly one signed message with one signature block, found several or an incomplete one`);
  }
  const end = body.indexOf('\n-----END PGP SIGNATURE-----') + '\n-----END PGP SIGNATURE-----'.length;
  if (body.slice(end).trim() !== '') {
    throw new PithError('RELEASE_MALFORMED', `${url}: expected nothing after "-----END PGP SIGNATURE-----", found unsigned content`);
  }
}

type ParsedRelease = Omit<VerifiedRelease, 'text' | 'digest' | 'signer'>;

function parseRelease(text: string, url: string): ParsedRelease {
  let stanzas;
  try {
    stanzas = parseDeb822(text, { source: `${url} (signed text)` });
  } catch (e) {
    throw new PithError('RELEASE_MALFORMED', (e as Error).message, { cause: e });
  }
  if (stanzas.length !== 1) {
    throw new PithError('RELEASE_MALFORMED', `${url}: expected one Release paragraph in the signed text, found ${stanzas.length}`);
  }
  const { fields } = stanzas[0]!;

  const dateText = fields['date'];
  if (dateText === undefined) throw new PithError('RELEASE_MALFORMED', `${url}: expected a Date field in the Release, found none`);
  const date = parseReleaseDate(dateText, 'Date', url);
  const validUntil = fields['valid-until'] !== undefined ? parseReleaseDate(fields['valid-until'], 'Valid-Until', url) : undefined;

  const sha256 = fields['sha256'];
  if (sha256 === undefined) {
    throw new PithError('RELEASE_MALFORMED', `${url}: expected a SHA256 section in the Release, found none (apt also refuses a Release without a strong hash)`);
  }
  const files = new Map<string, ReleaseFile>();
  const sumLines = sha256.split('\n');
  // For messages only: where the SHA256 field starts in the signed text (its value begins on that line).
  const fieldLine = text.split('\n').findIndex((l) => /^sha256:/i.test(l)) + 1;
  for (let i = 0; i < sumLines.length; i++) {
    const l = sumLines[i]!.trim();
    if (l === '') continue;
    const m = /^([0-9a-fA-F]{64})\s+(\d+)\s+(\S+)$/.exec(l);
    const path = m?.[3];
    if (m === null || path === undefined || !isSafeRelativePath(path)) {
      throw new PithError(
        'RELEASE_MALFORMED',
        `${url}: expected SHA256 lines "HASH SIZE PATH" (64 hex digits, a decimal size, a relative path), found ${JSON.stringify(l)} in the SHA256 section (near line ${fieldLine + i} of the signed text)`,
      );
    }
    if (files.has(path)) {
      throw new PithError('RELEASE_MALFORMED', `${url}: expected each path once in the SHA256 section, found ${path} twice`);
    }
    const size = Number(m[2]);
    if (!Number.isSafeInteger(size)) throw new PithError('RELEASE_MALFORMED', `${url}: expected a size for ${path}, found ${m[2]}`);
    files.set(path, { path, size, sha256: m[1]!.toLowerCase() });
  }

  const optional = (name: string) => (fields[name] !== undefined && fields[name] !== '' ? fields[name] : undefined);
  const result: ParsedRelease = {
    fields,
    date,
    acquireByHash: (fields['acquire-by-hash'] ?? '').trim().toLowerCase() === 'yes',
    noSupportForArchitectureAll: words(fields['no-support-for-architecture-all'] ?? '').includes('Packages'),
    architectures: words(fields['architectures'] ?? ''),
    components: words(fields['components'] ?? ''),
    files,
  };
  const s = optional('suite');
  if (s !== undefined) result.suite = s;
  const c = optional('codename');
  if (c !== undefined) result.codename = c;
  const o = optional('origin');
  if (o !== undefined) result.origin = o;
  const lb = optional('label');
  if (lb !== undefined) result.label = lb;
  if (validUntil !== undefined) result.validUntil = validUntil;
  return result;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** RFC 1123 / 2822 dates as the archive writes them: "Sat, 11 Jul 2026 10:16:37 UTC" (or "+0000"). */
function parseReleaseDate(value: string, field: string, url: string): Date {
  const m = /^(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2}):(\d{2})\s+(UTC|GMT|Z|[+-]\d{4})$/.exec(value.trim());
  const month = m ? MONTHS.indexOf(m[2]!.toLowerCase()) : -1;
  if (m === null || month === -1) {
    throw new PithError('RELEASE_MALFORMED', `${url}: expected ${field} like "Sat, 11 Jul 2026 10:16:37 UTC", found ${JSON.stringify(value)}`);
  }
  const [day, year, hour, minute, second] = [m[1], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
  const local = new Date(Date.UTC(year, month, day, hour, minute, second));
  // Date.UTC silently rolls "31 Feb" or "25:00" over; the archive never writes those, so they are refused.
  if (local.getUTCDate() !== day || local.getUTCMonth() !== month || hour > 23 || minute > 59 || second > 60) {
    throw new PithError('RELEASE_MALFORMED', `${url}: expected a valid ${field}, found ${JSON.stringify(value)}`);
  }
  const zone = m[7]!;
  let offsetMs = 0;
  if (zone.startsWith('+') || zone.startsWith('-')) {
    offsetMs = (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5))) * 60_000 * (zone.startsWith('+') ? 1 : -1);
  }
  return new Date(local.getTime() - offsetMs);
}

/**
 * apt compares the source's suite with the release's Suite and Codename. Old security sources named
 * "SUITE/updates" also match on the part before the slash, as apt did for them.
 */
function suiteMatches(requested: string, suite: string | undefined, codename: string | undefined): boolean {
  const candidates = [requested];
  const slash = requested.indexOf('/');
  if (slash > 0) candidates.push(requested.slice(0, slash));
  return candidates.some((c) => c === suite || c === codename);
}

function isSafeRelativePath(path: string): boolean {
  return !path.startsWith('/') && !path.split('/').some((seg) => seg === '..' || seg === '');
}

function words(value: string): string[] {
  return value.split(/\s+/).filter((w) => w !== '');
}
