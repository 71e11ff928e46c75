import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isPithError } from '../../src/errors.ts';
import { compareVersions, parseVersion, satisfiesVersion, type RelationOp } from '../../src/debian/version.ts';

// dpkg is the reference implementation: every expectation below is also checked against `dpkg --compare-versions`.
// Its messages are matched literally, so force the untranslated ones.
const DPKG_ENV = { ...process.env, LC_ALL: 'C', LANGUAGE: '' };
const REQUIRE_INTEGRATION = process.env.PITH_REQUIRE_INTEGRATION === '1';
const APT_LISTS_DIR = process.env.PITH_APT_LISTS_DIR ?? '/var/lib/apt/lists';
const APT_HELPER = '/usr/lib/apt/apt-helper';

type Rel = '<' | '=' | '>';
const REL: Record<-1 | 0 | 1, Rel> = { [-1]: '<', 0: '=', 1: '>' };

const dpkgAvailable = spawnSync('dpkg', ['--version'], { env: DPKG_ENV }).status === 0;

/** Skips a check whose reference tool or data is absent, unless CI demands the integration checks run. */
function skipOrFail(t: { skip(message?: string): void }, why: string): void {
  if (REQUIRE_INTEGRATION) assert.fail(`${why}, and PITH_REQUIRE_INTEGRATION=1 requires this check to run`);
  t.skip(why);
}

/**
 * Asks dpkg for the relation of many pairs. Spawning one process per pair from node costs far more than the
 * comparison, so each of `jobs` shells runs dpkg for its share of the pairs and prints one line per pair.
 * Pairs travel as two lines each (versions cannot contain a newline) so that blanks survive unchanged.
 */
async function dpkgRelations(pairs: ReadonlyArray<readonly [string, string]>, jobs = 2): Promise<string[]> {
  const script = `
while IFS= read -r a && IFS= read -r b; do
  dpkg --compare-versions -- "$a" lt "$b"; r=$?
  case $r in
    0) echo '<' ;;
    1) if dpkg --compare-versions -- "$a" eq "$b"; then echo '='; else echo '>'; fi ;;
    *) echo "E$r" ;;
  esac
done`;
  const chunk = Math.ceil(pairs.length / jobs);
  const runs: Promise<string[]>[] = [];
  for (let k = 0; k < pairs.length; k += chunk) {
    const part = pairs.slice(k, k + chunk);
    runs.push(
      new Promise((resolve, reject) => {
        const child = spawn('sh', ['-c', script], { env: DPKG_ENV, stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
        child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
        child.on('error', reject);
        child.on('close', (code) => {
          const lines = out.split('\n').slice(0, -1);
          if (code !== 0 || lines.length !== part.length) {
            reject(new Error(`dpkg batch: expected ${part.length} lines and exit 0, got ${lines.length} lines, exit ${code}; stderr: ${err.slice(0, 2000)}`));
          } else resolve(lines);
        });
        child.stdin.end(part.map(([a, b]) => `${a}\n${b}\n`).join(''));
      }),
    );
  }
  return (await Promise.all(runs)).flat();
}

function assertPithInvalid(fn: () => unknown, v: string, label: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isPithError(e, 'INVALID_VERSION'), `${label}: expected PithError INVALID_VERSION, got ${String(e)}`);
    assert.ok(e.message.includes(JSON.stringify(v)), `${label}: message should quote the version: ${e.message}`);
    assert.match(e.message, /expected/, `${label}: message should say what was expected`);
    return true;
  });
}

// [a, b, expected compareVersions(a, b)]
const EDGE_CASES: ReadonlyArray<readonly [string, string, -1 | 0 | 1]> = [
  // '~' sorts before everything, even the end of the string
  ['1.0~rc1', '1.0', -1],
  ['1.0~~', '1.0~', -1],
  ['1.0~~a', '1.0~', -1],
  ['1.0~~', '1.0~~a', -1],
  ['1.0~', '1.0', -1],
  ['1.0~rc1', '1.0~rc2', -1],
  ['1.0~rc1-1', '1.0-1', -1],
  ['0~', '0', -1],
  ['1.0-~', '1.0', -1],
  ['1.0-1~bpo12+1', '1.0-1', -1],
  ['1.0~beta', '1.0~alpha', 1],
  // epochs dominate and default to 0
  ['1:0', '9.9', 1],
  ['0:1.0', '1.0', 0],
  ['00:1.0', '1.0', 0],
  ['1:1.0', '1.0-99', 1],
  ['2:1.0', '1:9.9', 1],
  ['2147483647:1', '2147483646:99', 1],
  // revisions: missing revision equals "" and "0"
  ['1.0-1', '1.0', 1],
  ['1.0-0', '1.0', 0],
  ['1:0', '1:0-0', 0],
  ['1.0-0.1', '1.0', 1],
  ['1.0-1+b1', '1.0-1', 1],
  ['1.0-1+b1', '1.0-1.1', -1],
  ['1.0-1+deb12u1', '1.0-1', 1],
  ['1.0-1+deb12u1', '1.0-2', -1],
  ['1.0-10', '1.0-9', 1],
  ['1.0-1-1', '1.0-1', 1],
  ['1--1', '1-1', 1],
  // letters sort before non-letters, and by ASCII among themselves
  ['1.0a', '1.0+', -1],
  ['1.0.a', '1.0a', 1],
  ['1.0a', '1.0', 1],
  ['1.0+', '1.0', 1],
  ['1.0.', '1.0', 1],
  ['1.0~', '1.0a', -1],
  ['1.0A', '1.0a', -1],
  ['1.0Z', '1.0a', -1],
  ['1.0+', '1.0.', -1],
  ['1:1:1', '1:1.1', 1],
  ['1.0-a', '1.0-A', 1],
  // digit runs compare numerically, ignoring leading zeros
  ['1.01', '1.1', 0],
  ['1.001', '1.1', 0],
  ['1.0010', '1.9', 1],
  ['1.2.3', '1.10', -1],
  ['1.9', '1.10', -1],
  ['10', '9', 1],
  ['1.0', '1.00', 0],
  ['0000000000000000000000001', '1', 0],
  // runs beyond 2^53 must not go through Number (2^53 + 1 rounds to 2^53)
  ['1.9007199254740993', '1.9007199254740992', 1],
  ['1.18446744073709551616', '1.18446744073709551615', 1],
  ['100000000000000000000000000001', '100000000000000000000000000000', 1],
  ['1.99999999999999999999', '1.100000000000000000000', -1],
  ['20230101000000000000001', '20230101000000000000001', 0],
  // +really: re-uploads of an older upstream must still sort above the version they replace
  ['2.0+really1.9-1', '2.0-1', 1],
  ['2.0+really1.9-1', '2.1-1', -1],
  ['1.9+really1.8', '1.9', 1],
  ['1.2.3+dfsg-1', '1.2.3-1', 1],
  ['1.2.3+dfsg-1', '1.2.3.1-1', -1],
  // dpkg ignores surrounding blanks
  [' 1.0 ', '1.0', 0],
  ['\t1.0', '1.0', 0],
  ['1.0', '1.0', 0],
];

describe('parseVersion', () => {
  it('splits epoch, upstream and revision the way dpkg does', () => {
    assert.deepEqual(parseVersion('1:2.0-3'), { epoch: 1, upstream: '2.0', revision: '3' });
    assert.deepEqual(parseVersion('2.0'), { epoch: 0, upstream: '2.0', revision: '' });
    assert.deepEqual(parseVersion('1.0-1-1'), { epoch: 0, upstream: '1.0-1', revision: '1' });
    assert.deepEqual(parseVersion('1:1:1-2'), { epoch: 1, upstream: '1:1', revision: '2' });
    assert.deepEqual(parseVersion('  1.0-1\t'), { epoch: 0, upstream: '1.0', revision: '1' });
    assert.deepEqual(parseVersion('007:1'), { epoch: 7, upstream: '1', revision: '' });
    assert.deepEqual(parseVersion('2147483647:1'), { epoch: 2147483647, upstream: '1', revision: '' });
    assert.deepEqual(parseVersion('1.0-~'), { epoch: 0, upstream: '1.0', revision: '~' });
  });

  it('returns a copy, so a caller editing it cannot change later comparisons', () => {
    const p = parseVersion('3:1.0-1');
    p.epoch = 0;
    p.upstream = '9';
    assert.equal(parseVersion('3:1.0-1').epoch, 3);
    assert.equal(compareVersions('3:1.0-1', '2:9'), 1);
  });
});

describe('compareVersions: edge cases', () => {
  it('matches the hand-written expectation in both directions', () => {
    for (const [a, b, want] of EDGE_CASES) {
      assert.equal(compareVersions(a, b), want, `compareVersions(${JSON.stringify(a)}, ${JSON.stringify(b)})`);
      assert.equal(compareVersions(b, a), -want || 0, `compareVersions(${JSON.stringify(b)}, ${JSON.stringify(a)})`);
    }
  });

  it('agrees with dpkg --compare-versions', async (t) => {
    if (!dpkgAvailable) return skipOrFail(t, 'dpkg is not installed, so there is no reference to compare with');
    const got = await dpkgRelations(EDGE_CASES.map(([a, b]) => [a, b] as const));
    EDGE_CASES.forEach(([a, b, want], k) => {
      assert.equal(got[k], REL[want], `dpkg says ${JSON.stringify(a)} ${got[k]} ${JSON.stringify(b)}, expected ${REL[want]}`);
    });
  });

  it('satisfiesVersion applies each relation operator', () => {
    const table: ReadonlyArray<readonly [string, RelationOp, string, boolean]> = [
      ['1.0', '<<', '1.1', true],
      ['1.1', '<<', '1.1', false],
      ['1.1', '<=', '1.1', true],
      ['1.2', '<=', '1.1', false],
      ['1.01', '=', '1.1', true],
      ['1.0-0', '=', '1.0', true],
      ['1.0-1', '=', '1.0', false],
      ['1.0', '>=', '1.0~rc1', true],
      ['1.0~rc1', '>=', '1.0', false],
      ['1:0', '>>', '9.9', true],
      ['1.0', '>>', '1.0', false],
    ];
    for (const [v, op, ref, want] of table) assert.equal(satisfiesVersion(v, op, ref), want, `${v} ${op} ${ref}`);
    assert.throws(() => satisfiesVersion('1.0', '<' as RelationOp, '1.0'), (e: unknown) => isPithError(e, 'INVALID_RELATION'));
    assertPithInvalid(() => satisfiesVersion('1.0-', '>=', '1.0'), '1.0-', 'satisfiesVersion');
  });

  it('stays correct once the parse cache has had to evict entries', () => {
    const n = 150_000;
    for (let i = 0; i < n; i++) assert.equal(compareVersions(`1.${i}-1`, `1.${i + 1}~a`), -1);
    assert.equal(compareVersions('1.0-1', '1.1~a'), -1);
    assert.equal(compareVersions(`1.${n}~a`, '1.0-1'), 1);
  });
});

// What dpkg does with each string: `error` exits 2 with "error: ... bad syntax: <reason>"; `warning` prints
// "warning: ... bad syntax: <reason>" and still compares; `absent` is the CLI's "no version" placeholder;
// `accepts` marks where pith is deliberately stricter than dpkg (see src/debian/version.ts).
type DpkgVerdict = { kind: 'error' | 'warning'; reason: string } | { kind: 'absent' } | { kind: 'accepts'; equals: string };
const INVALID: ReadonlyArray<readonly [string, DpkgVerdict]> = [
  ['', { kind: 'absent' }],
  [' ', { kind: 'error', reason: 'version string is empty' }],
  ['\t \t', { kind: 'error', reason: 'version string is empty' }],
  ['1 0', { kind: 'error', reason: 'version string has embedded spaces' }],
  ['1.0\t-1', { kind: 'error', reason: 'version string has embedded spaces' }],
  ['a:1', { kind: 'error', reason: 'epoch in version is empty' }],
  [':1', { kind: 'error', reason: 'epoch in version is empty' }],
  ['1a:1', { kind: 'error', reason: 'epoch in version is not number' }],
  ['1.0-1:2', { kind: 'error', reason: 'epoch in version is not number' }],
  ['2147483648:1', { kind: 'error', reason: 'epoch in version is too big' }],
  ['99999999999999999999:1', { kind: 'error', reason: 'epoch in version is too big' }],
  ['1:', { kind: 'error', reason: 'nothing after colon in version number' }],
  ['1:-1', { kind: 'error', reason: 'version number is empty' }],
  ['-1', { kind: 'error', reason: 'version number is empty' }],
  ['1.0-', { kind: 'error', reason: 'revision number is empty' }],
  ['1:1.0-', { kind: 'error', reason: 'revision number is empty' }],
  ['1.0-1-', { kind: 'error', reason: 'revision number is empty' }],
  ['a', { kind: 'warning', reason: 'version number does not start with digit' }],
  ['1:a', { kind: 'warning', reason: 'version number does not start with digit' }],
  ['~1', { kind: 'warning', reason: 'version number does not start with digit' }],
  ['.1', { kind: 'warning', reason: 'version number does not start with digit' }],
  ['1.0_1', { kind: 'warning', reason: 'invalid character in version number' }],
  ['1!0', { kind: 'warning', reason: 'invalid character in version number' }],
  ['1.\u00e90', { kind: 'warning', reason: 'invalid character in version number' }],
  ['1.0\n', { kind: 'warning', reason: 'invalid character in version number' }],
  ['1.0-a_b', { kind: 'warning', reason: 'invalid character in revision number' }],
  ['1:1.0-1:2', { kind: 'warning', reason: 'invalid character in revision number' }],
  ['+1:1', { kind: 'accepts', equals: '1:1' }],
  ['-0:1', { kind: 'accepts', equals: '1' }],
];

describe('invalid versions', () => {
  it('are rejected with INVALID_VERSION by parseVersion, compareVersions and satisfiesVersion', () => {
    for (const [v] of INVALID) {
      assertPithInvalid(() => parseVersion(v), v, `parseVersion(${JSON.stringify(v)})`);
      assertPithInvalid(() => compareVersions(v, '1'), v, `compareVersions(${JSON.stringify(v)}, "1")`);
      assertPithInvalid(() => compareVersions('1', v), v, `compareVersions("1", ${JSON.stringify(v)})`);
      assertPithInvalid(() => compareVersions(v, v), v, `compareVersions(${JSON.stringify(v)}, itself)`);
      assertPithInvalid(() => satisfiesVersion('1', '>=', v), v, `satisfiesVersion against ${JSON.stringify(v)}`);
    }
  });

  it('are ones dpkg reports as bad syntax (or its documented special cases)', (t) => {
    if (!dpkgAvailable) return skipOrFail(t, 'dpkg is not installed, so there is no reference to compare with');
    for (const [v, verdict] of INVALID) {
      const label = `dpkg --compare-versions ${JSON.stringify(v)} lt 1`;
      const r = spawnSync('dpkg', ['--compare-versions', '--', v, 'lt', '1'], { env: DPKG_ENV, encoding: 'utf8' });
      switch (verdict.kind) {
        case 'error':
          assert.equal(r.status, 2, `${label}: expected exit 2, got ${r.status} (${r.stderr})`);
          assert.match(r.stderr, /error: version .* has bad syntax: /s, label);
          assert.ok(r.stderr.includes(`bad syntax: ${verdict.reason}`), `${label}: expected "${verdict.reason}", got ${r.stderr}`);
          break;
        case 'warning':
          assert.ok(r.status === 0 || r.status === 1, `${label}: expected a comparison result, got exit ${r.status}`);
          assert.match(r.stderr, /warning: version .* has bad syntax: /s, label);
          assert.ok(r.stderr.includes(`bad syntax: ${verdict.reason}`), `${label}: expected "${verdict.reason}", got ${r.stderr}`);
          break;
        case 'absent': {
          // The CLI maps an empty argument to "no version", which sorts before every real one.
          assert.equal(r.status, 0, `${label}: expected dpkg's empty "no version" to be lower, got ${r.status}`);
          assert.equal(r.stderr, '');
          const gt = spawnSync('dpkg', ['--compare-versions', '--', v, 'gt', '0~'], { env: DPKG_ENV, encoding: 'utf8' });
          assert.equal(gt.status, 1, `dpkg --compare-versions "" gt 0~: expected 1, got ${gt.status}`);
          break;
        }
        case 'accepts': {
          const eq = spawnSync('dpkg', ['--compare-versions', '--', v, 'eq', verdict.equals], { env: DPKG_ENV, encoding: 'utf8' });
          assert.equal(eq.status, 0, `dpkg reads ${JSON.stringify(v)} as ${verdict.equals} (the strtol sign leniency pith rejects)`);
          assert.equal(eq.stderr, '');
          break;
        }
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Real versions from this machine's apt lists.

interface ArchiveVersions {
  files: string[];
  /** Distinct versions per source package (binary versions plus the `Source: name (version)` ones). */
  bySource: Map<string, string[]>;
  all: string[];
}

let archiveCache: ArchiveVersions | string | undefined;

/** Returns the versions, or a sentence naming what is missing. */
function loadArchiveVersions(): ArchiveVersions | string {
  if (archiveCache !== undefined) return archiveCache;
  archiveCache = (() => {
    if (!existsSync(APT_LISTS_DIR)) return `${APT_LISTS_DIR} does not exist (run apt-get update)`;
    const files = readdirSync(APT_LISTS_DIR)
      .filter((f) => /_Packages(\.(gz|xz|lz4|bz2|zst|lzma))?$/.test(f))
      .sort()
      .map((f) => join(APT_LISTS_DIR, f));
    if (files.length === 0) return `no *_Packages* index in ${APT_LISTS_DIR} (run apt-get update)`;
    if (!existsSync(APT_HELPER)) return `${APT_HELPER} is missing, so the compressed apt lists cannot be read`;
    const text = execFileSync(
      'sh',
      ['-c', `for f; do "${APT_HELPER}" cat-file "$f" || exit 1; done | grep -E '^(Package|Source|Version):'`, 'sh', ...files],
      { encoding: 'utf8', maxBuffer: 1 << 30 },
    );
    const sets = new Map<string, Set<string>>();
    let pkg = '';
    let src = '';
    const add = (name: string, v: string) => {
      let s = sets.get(name);
      if (!s) sets.set(name, (s = new Set()));
      s.add(v);
    };
    for (const line of text.split('\n')) {
      if (line.startsWith('Package:')) {
        pkg = line.slice(8).trim();
        src = pkg;
      } else if (line.startsWith('Source:')) {
        const m = /^Source:\s*(\S+)(?:\s*\((\S+)\))?/.exec(line);
        if (m) {
          src = m[1]!;
          if (m[2]) add(src, m[2]);
        }
      } else if (line.startsWith('Version:')) {
        add(src || pkg, line.slice(8).trim());
      }
    }
    const bySource = new Map<string, string[]>();
    const all = new Set<string>();
    for (const [name, s] of sets) {
      bySource.set(name, [...s].sort());
      for (const v of s) all.add(v);
    }
    if (all.size < 1000) return `only ${all.size} distinct versions in ${files.join(', ')}; expected a full index`;
    return { files, bySource, all: [...all].sort() };
  })();
  return archiveCache;
}

/** mulberry32: small, seedable, and identical on every machine, so a failing sample can be reproduced. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A deterministic sample of pairs that are hard to order: unrelated versions differ in their first digit, so most
 * of the sample shares a source package or a string prefix, and stresses '~', '+' and epochs.
 */
function samplePairs(av: ArchiveVersions): { pairs: Array<[string, string]>; byKind: Record<string, number> } {
  const rnd = prng(0x9e3779b9);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const lex = av.all; // sorted as strings, so neighbours share prefixes
  const seen = new Set<string>();
  const pairs: Array<[string, string]> = [];
  const byKind: Record<string, number> = {};
  const push = (kind: string, a: string | undefined, b: string | undefined) => {
    if (a === undefined || b === undefined || a === b) return false;
    const key = a < b ? `${a}\n${b}` : `${b}\n${a}`;
    if (seen.has(key)) return false;
    seen.add(key);
    pairs.push(rnd() < 0.5 ? [a, b] : [b, a]);
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    return true;
  };
  const fill = (kind: string, target: number, gen: () => [string | undefined, string | undefined]) => {
    for (let n = 0, tries = 0; n < target && tries < target * 20; tries++) if (push(kind, ...gen())) n++;
  };
  const nearPrefix = (prefix: string) => lex[Math.min(lex.length - 1, lowerBound(lex, prefix) + Math.floor(rnd() * 4))];

  const multi = [...av.bySource.values()].filter((vs) => vs.length >= 2);
  const tilde = lex.filter((v) => v.includes('~'));
  const plus = lex.filter((v) => v.includes('+'));
  const epoch = lex.filter((v) => v.includes(':'));
  const tildeSpread = tilde.filter((_, k) => k % 97 === 0);

  fill('same-source', 1200, () => {
    const vs = pick(multi);
    return [pick(vs), pick(vs)];
  });
  fill('string-neighbours', 1000, () => {
    const i = Math.floor(rnd() * lex.length);
    return [lex[i], lex[i + 1 + Math.floor(rnd() * 3)]];
  });
  fill('tilde', 600, () => {
    const v = pick(tilde);
    return [v, rnd() < 0.5 ? nearPrefix(v.slice(0, v.indexOf('~'))) : pick(tildeSpread)];
  });
  fill('plus', 400, () => {
    const v = pick(plus);
    return [v, nearPrefix(v.slice(0, v.indexOf('+')))];
  });
  fill('epoch', 400, () => {
    const v = pick(epoch);
    return [v, rnd() < 0.5 ? nearPrefix(v.slice(v.indexOf(':') + 1)) : pick(epoch)];
  });
  fill('random', 400, () => [pick(lex), pick(lex)]);
  return { pairs, byKind };
}

describe('real archive versions against dpkg', () => {
  let av: ArchiveVersions | undefined;
  let missing: string | undefined;
  let sample: ReturnType<typeof samplePairs> | undefined;
  let sorted: string[] = [];
  let sampleDpkg: string[] = [];
  let sortedDpkg: string[] = [];
  let dpkgMs = 0;

  before(async () => {
    if (!dpkgAvailable) {
      missing = 'dpkg is not installed, so there is no reference to compare with';
      return;
    }
    const loaded = loadArchiveVersions();
    if (typeof loaded === 'string') {
      missing = loaded;
      return;
    }
    av = loaded;
    sample = samplePairs(av);
    sorted = [...av.all].sort(compareVersions);
    const adjacent: Array<[string, string]> = [];
    for (let i = 1; i < sorted.length; i++) adjacent.push([sorted[i - 1]!, sorted[i]!]);
    // One batch for both tests keeps both shells busy until the end.
    const t0 = Date.now();
    const rels = await dpkgRelations([...sample.pairs, ...adjacent]);
    dpkgMs = Date.now() - t0;
    sampleDpkg = rels.slice(0, sample.pairs.length);
    sortedDpkg = rels.slice(sample.pairs.length);
  });

  it('orders a biased sample of ≥3000 real pairs exactly like dpkg', (t) => {
    if (!av || !sample) return skipOrFail(t, missing ?? 'no archive versions');
    const { pairs, byKind } = sample;
    assert.ok(pairs.length >= 3000, `expected at least 3000 distinct pairs, sampled ${pairs.length}`);
    const sharedPrefix = pairs.filter(([a, b]) => a.slice(0, 3) === b.slice(0, 3)).length;
    // The sample is only worth something if most pairs are not decided by their first characters.
    assert.ok(sharedPrefix >= pairs.length / 2, `only ${sharedPrefix}/${pairs.length} pairs share a 3-character prefix`);
    const mismatches: string[] = [];
    const tally: Record<string, number> = {};
    pairs.forEach(([a, b], k) => {
      const ours = REL[compareVersions(a, b)];
      tally[ours] = (tally[ours] ?? 0) + 1;
      if (sampleDpkg[k] !== ours) mismatches.push(`${a} vs ${b}: pith ${ours}, dpkg ${sampleDpkg[k]}`);
    });
    t.diagnostic(`${av.all.length} distinct versions from ${av.files.length} index file(s); ${pairs.length} pairs: ${JSON.stringify(byKind)}`);
    t.diagnostic(`relations ${JSON.stringify(tally)}; ${sharedPrefix} pairs share a 3-character prefix`);
    t.diagnostic(`dpkg answered for these and the sorted-order pairs in ${(dpkgMs / 1000).toFixed(1)} s`);
    assert.deepEqual(mismatches.slice(0, 20), [], `${mismatches.length} of ${pairs.length} pairs disagree with dpkg`);
  });

  it('sorts every distinct real version into an order dpkg agrees with', (t) => {
    if (!av) return skipOrFail(t, missing ?? 'no archive versions');
    assert.equal(sortedDpkg.length, sorted.length - 1);
    const bad: string[] = [];
    for (let i = 1; i < sorted.length; i++) {
      const ours = compareVersions(sorted[i - 1]!, sorted[i]!);
      if (ours > 0) bad.push(`not sorted at ${i}: ${sorted[i - 1]} > ${sorted[i]}`);
      if (sortedDpkg[i - 1] !== REL[ours]) bad.push(`${sorted[i - 1]} vs ${sorted[i]}: pith ${REL[ours]}, dpkg ${sortedDpkg[i - 1]}`);
    }
    // A comparator that is not a total order can still leave adjacent elements looking fine; spot-check far pairs.
    const rnd = prng(7);
    for (let k = 0; k < 200_000; k++) {
      const i = Math.floor(rnd() * sorted.length);
      const j = Math.floor(rnd() * sorted.length);
      const c = compareVersions(sorted[Math.min(i, j)]!, sorted[Math.max(i, j)]!);
      if (c > 0) bad.push(`transitivity: ${sorted[Math.min(i, j)]} > ${sorted[Math.max(i, j)]}`);
    }
    t.diagnostic(`sorted ${sorted.length} versions; checked ${sorted.length - 1} adjacent pairs with dpkg`);
    assert.deepEqual(bad.slice(0, 20), [], `${bad.length} problems in the sorted order`);
  });
});

describe('compareVersions speed', () => {
  it('compares 1e6 pairs (reported, not asserted)', (t) => {
    const loaded = loadArchiveVersions();
    let versions: string[];
    let origin: string;
    if (typeof loaded === 'string') {
      const rnd = prng(42);
      versions = Array.from({ length: 20_000 }, (_, i) => {
        const e = rnd() < 0.05 ? `${1 + (i % 3)}:` : '';
        const tail = rnd() < 0.2 ? `~rc${i % 5}` : rnd() < 0.3 ? `+dfsg${i % 3}` : '';
        return `${e}${i % 40}.${(i * 7) % 23}.${i % 11}${tail}-${1 + (i % 4)}${rnd() < 0.2 ? '+b1' : ''}`;
      });
      origin = 'synthetic versions';
    } else {
      versions = loaded.all;
      origin = 'real archive versions';
    }
    const n = 1_000_000;
    const left = new Int32Array(n);
    const right = new Int32Array(n);
    const rnd = prng(1);
    // Half the pairs are string neighbours, the realistic case for candidates of one package.
    for (let k = 0; k < n; k++) {
      const i = Math.floor(rnd() * versions.length);
      left[k] = i;
      right[k] = k % 2 ? Math.floor(rnd() * versions.length) : Math.min(versions.length - 1, i + 1);
    }
    for (const v of versions) compareVersions(v, versions[0]!);
    let acc = 0;
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < n; k++) acc += compareVersions(versions[left[k]!]!, versions[right[k]!]!);
    const ns = Number(process.hrtime.bigint() - t0);
    t.diagnostic(`${n} comparisons of ${versions.length} ${origin} (cached): ${(ns / 1e6).toFixed(0)} ms, ${(ns / n).toFixed(0)} ns/comparison (checksum ${acc})`);
  });
});
