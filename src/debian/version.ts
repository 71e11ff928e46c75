import { PithError } from '../errors.ts';

/**
 * Debian version parsing and ordering, following dpkg (lib/dpkg/parsehelp.c `parseversion`,
 * lib/dpkg/version.c `dpkg_version_compare`/`verrevcmp`) so that pith picks the same candidate apt/dpkg would.
 *
 * Validation policy. dpkg's parser has two severities: *errors* (empty string, embedded blanks, bad or oversized
 * epoch, nothing after the colon, empty upstream, empty revision after the last '-') and *warnings* (upstream not
 * starting with a digit, characters outside the allowed sets). dpkg refuses both when it reads a package's own
 * control data and only tolerates warnings for its legacy status database and on the command line. pith reads
 * archive indices, where a version dpkg would warn about can never be installed, so both severities are errors
 * here. One deliberate difference: dpkg reads the epoch with strtol, which accepts a sign ("+1:2", "-0:2");
 * Debian Policy defines the epoch as an unsigned integer and no archive version has a sign, so we reject it.
 * Like dpkg, leading and trailing blanks (space, tab) are ignored and an epoch above INT_MAX is an error.
 */
export interface DebianVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

export type RelationOp = '<<' | '<=' | '=' | '>=' | '>>';

/** dpkg stores the epoch in a C int. */
const MAX_EPOCH = 2147483647;

const CH_TAB = 9;
const CH_SPACE = 32;
const CH_PLUS = 43;
const CH_MINUS = 45;
const CH_DOT = 46;
const CH_0 = 48;
const CH_9 = 57;
const CH_COLON = 58;
const CH_A = 65;
const CH_Z = 90;
const CH_a = 97;
const CH_z = 122;
const CH_TILDE = 126;

function isDigit(c: number): boolean {
  return c >= CH_0 && c <= CH_9;
}

function isAlpha(c: number): boolean {
  return (c >= CH_A && c <= CH_Z) || (c >= CH_a && c <= CH_z);
}

function isBlank(c: number): boolean {
  return c === CH_SPACE || c === CH_TAB;
}

function invalid(v: string, expected: string, found: string): PithError {
  return new PithError(
    'INVALID_VERSION',
    `invalid Debian version ${JSON.stringify(v)}: expected ${expected} (format [epoch:]upstream[-revision]), found ${found}`,
    { details: { version: v } },
  );
}

function describeChar(c: number): string {
  return `${JSON.stringify(String.fromCharCode(c))} (U+${c.toString(16).toUpperCase().padStart(4, '0')})`;
}

function parseUncached(v: string): DebianVersion {
  let start = 0;
  let end = v.length;
  while (start < end && isBlank(v.charCodeAt(start))) start++;
  while (end > start && isBlank(v.charCodeAt(end - 1))) end--;
  if (start === end) throw invalid(v, 'a non-empty version', 'an empty string');
  for (let i = start; i < end; i++) {
    if (isBlank(v.charCodeAt(i))) throw invalid(v, 'no spaces or tabs inside the version', `a blank at offset ${i}`);
  }

  let epoch = 0;
  let pos = start;
  const colon = v.indexOf(':', start);
  if (colon !== -1 && colon < end) {
    const first = v.charCodeAt(start);
    if (first === CH_PLUS || first === CH_MINUS) {
      throw invalid(v, 'an unsigned decimal epoch before the first colon', `a sign ${describeChar(first)}`);
    }
    let digitsEnd = start;
    while (digitsEnd < colon && isDigit(v.charCodeAt(digitsEnd))) digitsEnd++;
    if (digitsEnd === start) {
      throw invalid(v, 'a decimal epoch before the first colon', `${JSON.stringify(v.slice(start, colon))}`);
    }
    if (digitsEnd !== colon) {
      throw invalid(v, 'only digits in the epoch before the first colon', JSON.stringify(v.slice(start, colon)));
    }
    // Digits only, so Number() is exact up to MAX_EPOCH and anything longer is certainly above it.
    epoch = Number(v.slice(start, colon));
    if (epoch > MAX_EPOCH) throw invalid(v, `an epoch of at most ${MAX_EPOCH}`, v.slice(start, colon));
    pos = colon + 1;
    if (pos === end) throw invalid(v, 'an upstream version after the epoch colon', 'nothing');
  }

  const body = v.slice(pos, end);
  const hyphen = body.lastIndexOf('-');
  const upstream = hyphen === -1 ? body : body.slice(0, hyphen);
  const revision = hyphen === -1 ? '' : body.slice(hyphen + 1);
  if (hyphen !== -1 && revision.length === 0) {
    throw invalid(v, "a revision after the last '-'", 'nothing');
  }
  if (upstream.length === 0) throw invalid(v, 'a non-empty upstream version', 'nothing');
  if (!isDigit(upstream.charCodeAt(0))) {
    throw invalid(v, 'an upstream version starting with a digit', describeChar(upstream.charCodeAt(0)));
  }
  for (let i = 1; i < upstream.length; i++) {
    const c = upstream.charCodeAt(i);
    if (!isDigit(c) && !isAlpha(c) && c !== CH_DOT && c !== CH_PLUS && c !== CH_MINUS && c !== CH_TILDE && c !== CH_COLON) {
      throw invalid(v, "only ASCII letters, digits and . + - ~ : in the upstream version", describeChar(c));
    }
  }
  for (let i = 0; i < revision.length; i++) {
    const c = revision.charCodeAt(i);
    if (!isDigit(c) && !isAlpha(c) && c !== CH_DOT && c !== CH_PLUS && c !== CH_TILDE) {
      throw invalid(v, 'only ASCII letters, digits and . + ~ in the revision', describeChar(c));
    }
  }
  return { epoch, upstream, revision };
}

// The resolver compares the same few thousand strings over and over; parsing would dominate otherwise. Two
// generations bound the memory of a long-running process (at most 2 x CACHE_GENERATION entries) while keeping
// whatever is still in use: a hit in the old generation moves to the young one, the rest is dropped wholesale.
// (Evicting single oldest entries from one Map is quadratic in V8: iteration has to skip the deleted slots.)
const CACHE_GENERATION = 1 << 16;
let young = new Map<string, DebianVersion>();
let old = new Map<string, DebianVersion>();

function lookup(v: string): DebianVersion {
  let p = young.get(v);
  if (p !== undefined) return p;
  p = old.get(v) ?? parseUncached(v);
  if (young.size >= CACHE_GENERATION) {
    old = young;
    young = new Map();
  }
  young.set(v, p);
  return p;
}

export function parseVersion(v: string): DebianVersion {
  const p = lookup(v);
  // A copy, so a caller that edits its result cannot corrupt the cache used for ordering.
  return { epoch: p.epoch, upstream: p.upstream, revision: p.revision };
}

/**
 * dpkg's character weight: '~' below everything including the end of the string, then the end and digits
 * (digit runs are handled separately), then letters in ASCII order, then every other character after all letters.
 */
function order(c: number): number {
  if (isAlpha(c)) return c;
  if (c === CH_TILDE) return -1;
  if (c === 0 || isDigit(c)) return 0;
  return c + 256;
}

/**
 * dpkg's verrevcmp on validated strings (no NUL inside, so charCode 0 can stand for "end of string").
 * Digit runs are compared as digit strings rather than Numbers: archive versions contain runs far beyond 2^53.
 */
function verrevcmp(a: string, b: string): number {
  const la = a.length;
  const lb = b.length;
  let i = 0;
  let j = 0;
  while (i < la || j < lb) {
    for (;;) {
      const ca = i < la ? a.charCodeAt(i) : 0;
      const cb = j < lb ? b.charCodeAt(j) : 0;
      if ((ca === 0 || isDigit(ca)) && (cb === 0 || isDigit(cb))) break;
      const oa = order(ca);
      const ob = order(cb);
      if (oa !== ob) return oa < ob ? -1 : 1;
      i++;
      j++;
    }
    while (i < la && a.charCodeAt(i) === CH_0) i++;
    while (j < lb && b.charCodeAt(j) === CH_0) j++;
    let firstDiff = 0;
    while (i < la && j < lb) {
      const ca = a.charCodeAt(i);
      const cb = b.charCodeAt(j);
      if (!isDigit(ca) || !isDigit(cb)) break;
      if (firstDiff === 0) firstDiff = ca - cb;
      i++;
      j++;
    }
    // The longer run (after leading zeros) is the bigger number; equal lengths fall back to the first difference.
    if (i < la && isDigit(a.charCodeAt(i))) return 1;
    if (j < lb && isDigit(b.charCodeAt(j))) return -1;
    if (firstDiff !== 0) return firstDiff < 0 ? -1 : 1;
  }
  return 0;
}

export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  const pa = lookup(a);
  if (a === b) return 0;
  const pb = lookup(b);
  if (pa.epoch !== pb.epoch) return pa.epoch < pb.epoch ? -1 : 1;
  const u = verrevcmp(pa.upstream, pb.upstream);
  if (u !== 0) return u < 0 ? -1 : 1;
  const r = verrevcmp(pa.revision, pb.revision);
  return r < 0 ? -1 : r > 0 ? 1 : 0;
}

export function satisfiesVersion(version: string, op: RelationOp, ref: string): boolean {
  const c = compareVersions(version, ref);
  switch (op) {
    case '<<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '=':
      return c === 0;
    case '>=':
      return c >= 0;
    case '>>':
      return c > 0;
    default: {
      // Reachable only from untyped callers (e.g. a relation parsed from an index without validation).
      const bad: never = op;
      throw new PithError(
        'INVALID_RELATION',
        `invalid version relation ${JSON.stringify(bad)} against ${JSON.stringify(ref)}: expected one of << <= = >= >>`,
      );
    }
  }
}
