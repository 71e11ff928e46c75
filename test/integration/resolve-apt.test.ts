/**
 * pith's resolver against the real apt-get, on the same index files: `apt-get -s install SET` with a private
 * configuration (empty dpkg status, recommends off) must list exactly the packages `resolve` returns.
 *
 * Two parts: the machine's own apt sources (needs the network; skipped when it is unreachable), and a local
 * repository of small hand-made cases around alternatives and conflicts (needs only apt-get).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingTools, privateApt, type PrivateApt } from '../fixtures/apt.ts';
import { parseDeb822 } from '../../src/debian/deb822.ts';
import { parsePackagesIndex, type BinaryPackage, type IndexOrigin } from '../../src/debian/packages.ts';
import { PackageUniverse, resolve } from '../../src/debian/resolve.ts';
import { isPithError, type ErrorCode } from '../../src/errors.ts';

const REQUIRE = process.env.PITH_REQUIRE_INTEGRATION === '1';
const missing = missingTools({ 'apt-get': 'apt' });

/** `Inst NAME (VERSION RELEASES [ARCH])` lines of `apt-get -s install`, as NAME=VERSION:ARCH. */
function instLines(stdout: string): string[] {
  const out: string[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^Inst (\S+) \((\S+) .*\[([^\]]+)\]\)/.exec(line);
    if (m) out.push(`${m[1]!.replace(/:[^:]+$/, '')}=${m[2]}:${m[3]}`);
  }
  return out.sort();
}

/**
 * The Packages lists apt downloaded, in the order apt reads them (`apt-get indextargets` follows the sources):
 * the order matters, because apt's last tie-break between providers is the order in which it met each name.
 */
async function loadLists(apt: PrivateApt): Promise<{ packages: BinaryPackage[]; files: string[] }> {
  const r = await apt.run(
    ['indextargets', '--format', '$(FILENAME)|$(REPO_URI)|$(RELEASE)|$(CODENAME)|$(LABEL)|$(ORIGIN)|$(COMPONENT)|$(ARCHITECTURE)', 'Identifier: Packages'],
  );
  assert.equal(r.code, 0, r.stderr);
  const packages: BinaryPackage[] = [];
  const files: string[] = [];
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const [file, uri, suite, codename, label, originName, component, architecture] = line.split('|') as string[];
    if (!existsSync(file!)) continue;
    const origin: IndexOrigin = { uri: uri!.replace(/\/$/, ''), suite: suite!, component: component!, architecture: architecture! };
    if (codename) origin.codename = codename;
    if (label) origin.label = label;
    if (originName) origin.origin = originName;
    const text = await readFile(file!, 'utf8');
    packages.push(...parsePackagesIndex(text, origin, file!));
    files.push(file!);
  }
  return { packages, files };
}

async function aptInstall(apt: PrivateApt, set: string[]): Promise<{ ok: boolean; packages: string[]; errors: string }> {
  const r = await apt.run(['-s', 'install', ...set]);
  return {
    ok: r.code === 0,
    packages: instLines(r.stdout),
    errors: (r.stdout + r.stderr).split('\n').filter((l) => /^E:|Depends:|Conflicts:|Breaks:/.test(l.trim())).join('\n'),
  };
}

function pith(u: PackageUniverse, set: string[]): { ok: boolean; packages: string[]; error?: unknown; ms: number } {
  const t0 = performance.now();
  try {
    const r = resolve(u, set);
    return { ok: true, packages: r.packages.map((p) => `${p.name}=${p.version}:${p.architecture}`).sort(), ms: performance.now() - t0 };
  } catch (error) {
    return { ok: false, packages: [], error, ms: performance.now() - t0 };
  }
}

function assertAgrees(set: string[], a: Awaited<ReturnType<typeof aptInstall>>, p: ReturnType<typeof pith>): void {
  if (!a.ok) {
    assert.equal(p.ok, false, `apt-get refuses ${set.join(' ')} (${a.errors}) but pith resolved ${p.packages.length} packages`);
    assert.ok(isPithError(p.error), String(p.error));
    return;
  }
  assert.ok(p.ok, `apt-get installs ${set.join(' ')} but pith failed: ${String(p.error)}`);
  const onlyApt = a.packages.filter((x) => !p.packages.includes(x));
  const onlyPith = p.packages.filter((x) => !a.packages.includes(x));
  assert.deepEqual({ onlyApt, onlyPith }, { onlyApt: [], onlyPith: [] }, `apt and pith differ for ${set.join(' ')}`);
}

/** The enabled deb822 stanzas of the machine's sources (apt reads `*.sources` in sources.list.d). */
async function machineSources(): Promise<string> {
  const dir = '/etc/apt/sources.list.d';
  const stanzas: string[] = [];
  for (const f of (existsSync(dir) ? await readdir(dir) : []).filter((n) => n.endsWith('.sources')).sort()) {
    const text = await readFile(join(dir, f), 'utf8');
    for (const s of parseDeb822(text, { source: join(dir, f) })) {
      if ((s.fields['enabled'] ?? 'yes').toLowerCase() === 'no') continue;
      if (!(s.fields['types'] ?? '').split(/\s+/).includes('deb')) continue;
      const f2 = { ...s.fields, types: 'deb' };
      stanzas.push(Object.entries(f2).map(([k, v]) => `${k}: ${v.replace(/\n/g, '\n ')}`).join('\n'));
    }
  }
  return stanzas.join('\n\n') + '\n';
}

describe('resolve agrees with apt-get on the machine\'s archive', { skip: missing }, () => {
  let dir = '';
  let apt: PrivateApt;
  let universe: PackageUniverse | undefined;
  let skipReason: string | undefined;
  let built = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pith-resolve-apt-'));
    const sources = await machineSources();
    if (sources.trim() === '') {
      skipReason = 'the machine has no enabled deb822 apt sources in /etc/apt/sources.list.d';
      return;
    }
    apt = await privateApt(join(dir, 'apt'), sources);
    const up = await apt.run(['update']);
    const { packages, files } = await loadLists(apt);
    if (up.code !== 0 || files.length === 0) {
      skipReason = `apt-get update with the machine's sources failed (network unreachable?): ${(up.stdout + up.stderr).trim().split('\n').slice(-3).join(' / ')}`;
      return;
    }
    const t0 = performance.now();
    universe = new PackageUniverse(packages, { architecture: 'amd64' });
    // Building is only an array copy; the name and Provides indexes are made by the first resolution.
    built = `universe of ${packages.length} packages from ${files.length} lists built in ${(performance.now() - t0).toFixed(1)} ms`;
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const sets: Array<{ set: string[]; why: string; expectError?: ErrorCode }> = [
    { set: ['python3'], why: 'interpreter with a long library chain' },
    { set: ['curl'], why: 'TLS, LDAP, SSH libraries' },
    { set: ['perl'], why: 'perl-base (Essential) is pulled in only because perl depends on it' },
    { set: ['nodejs'], why: 'node modules of Architecture: all' },
    { set: ['openjdk-17-jre-headless'], why: 'virtual java packages, ca-certificates-java' },
    { set: ['mawk'], why: 'provides awk' },
    { set: ['ca-certificates'], why: 'debconf (>= 0.5) | debconf-2.0' },
    { set: ['libssl3', 'openssl'], why: 'two requests' },
    { set: ['git'], why: 'perl:any (Multi-Arch: allowed)' },
    { set: ['default-jre-headless'], why: 'metapackage over a virtual runtime' },
    { set: ['awk'], why: 'virtual with several providers: apt refuses', expectError: 'VIRTUAL_PACKAGE' },
    { set: ['bsd-mailx'], why: 'default-mta | mail-transport-agent (virtual alternatives)' },
    { set: ['postfix'], why: 'Conflicts/Provides mail-transport-agent' },
    { set: ['postfix', 'exim4-daemon-light'], why: 'two conflicting MTAs: apt refuses', expectError: 'UNSATISFIABLE' },
    { set: ['mawk', 'gawk'], why: 'two providers of awk requested together' },
    { set: ['apache2'], why: 'perl:any, many alternatives' },
    { set: ['openssh-server'], why: 'alternatives over virtual packages' },
    { set: ['build-essential'], why: 'a large closure' },
  ];

  for (const { set, why, expectError } of sets) {
    test(`${set.join(' ')} (${why})`, async (t) => {
      if (skipReason) {
        if (REQUIRE) assert.fail(`PITH_REQUIRE_INTEGRATION=1 but ${skipReason}`);
        t.skip(skipReason);
        return;
      }
      if (built) {
        t.diagnostic(built);
        built = '';
      }
      const a = await aptInstall(apt, set);
      const p = pith(universe!, set);
      t.diagnostic(`apt ${a.ok ? a.packages.length : 'refuses'}; pith ${p.ok ? p.packages.length : (p.error as Error).message} in ${p.ms.toFixed(1)} ms`);
      if (expectError) {
        assert.equal(a.ok, false, `expected apt-get to refuse ${set.join(' ')}`);
        assert.ok(isPithError(p.error, expectError), `expected ${expectError}, got ${String(p.error)}`);
      }
      assertAgrees(set, a, p);
    });
  }

  // apt's last tie-break between equal providers is the order in which it met each name (Recommends, Suggests
  // and Enhances included); these sets hit such ties.
  for (const set of [['sa-exim'], ['parolottero'], ['kde-telepathy-minimal'], ['notmuch-vim']]) {
    test(`${set.join(' ')} (provider tie decided by package id)`, async (t) => {
      if (skipReason) {
        if (REQUIRE) assert.fail(`PITH_REQUIRE_INTEGRATION=1 but ${skipReason}`);
        t.skip(skipReason);
        return;
      }
      const a = await aptInstall(apt, set);
      const p = pith(universe!, set);
      t.diagnostic(`apt ${a.packages.length}; pith ${p.packages.length}`);
      assertAgrees(set, a, p);
    });
  }
});

/**
 * Hand-made cases, each checked against apt-get on a local repository. Package names are prefixed per case so
 * that all cases share one index; `;` separates fields, and every stanza gets the fields apt needs.
 */
const LOCAL_CASES: Array<{ name: string; stanzas: string[]; request: string[] }> = [
  { name: 'or-first-installable', stanzas: ['app; Depends: missing | b | c', 'b', 'c'], request: ['app'] },
  { name: 'depth-first', stanzas: ['app; Depends: x, a | b', 'x; Depends: b', 'a', 'b'], request: ['app'] },
  { name: 'predepends-first', stanzas: ['app; Pre-Depends: a | b; Depends: b', 'a', 'b'], request: ['app'] },
  { name: 'priority', stanzas: ['app; Depends: virt', 'x; Provides: virt; Priority: optional', 'y; Provides: virt; Priority: standard'], request: ['app'] },
  { name: 'versioned-provides', stanzas: ['app; Depends: virt (>= 2)', 'u; Provides: virt; Priority: required', 'o; Provides: virt (= 1)', 'n; Provides: virt (= 3)'], request: ['app'] },
  { name: 'id-tie', stanzas: ['p1; Provides: virt', 'p2; Provides: virt', 'app; Depends: virt'], request: ['app'] },
  { name: 'rejected-up-front', stanzas: ['app; Depends: a | b, d | c', 'a; Depends: c, missing', 'b', 'c', 'd'], request: ['app'] },
  { name: 'leftover-essential', stanzas: ['app; Depends: a | b', 'a; Depends: c, e', 'e; Depends: missing', 'b', 'c; Essential: yes'], request: ['app'] },
  { name: 'leftover-marks', stanzas: ['app; Depends: a | b, d | c', 'a; Depends: c, e', 'e; Depends: missing', 'b', 'c', 'd'], request: ['app'] },
  { name: 'conflict-unmarks', stanzas: ['app; Depends: a | b, x', 'a', 'b', 'x; Conflicts: a'], request: ['app'] },
  { name: 'conflict-protected', stanzas: ['app; Depends: x, a | b', 'a; Conflicts: x', 'b', 'x'], request: ['app'] },
  { name: 'conflict-reverse', stanzas: ['app; Depends: x, a | b', 'a', 'b', 'x; Conflicts: a'], request: ['app'] },
  { name: 'conflict-unfixable', stanzas: ['app; Depends: a | b, x', 'a; Breaks: x (<< 2)', 'b', 'x'], request: ['app'] },
  { name: 'conflict-held-back', stanzas: ['app; Depends: y | z, x', 'y; Depends: a', 'z', 'a', 'x; Conflicts: a'], request: ['app'] },
  { name: 'conflict-keeps-earlier', stanzas: ['app; Depends: y | z, k | l', 'y; Depends: a', 'z', 'a', 'k; Depends: x', 'l', 'x; Conflicts: a'], request: ['app'] },
  { name: 'conflict-parent-alternative', stanzas: ['app; Depends: m | n', 'm; Depends: a | b, x', 'n', 'a', 'b', 'x; Conflicts: a'], request: ['app'] },
  { name: 'requests-conflict', stanzas: ['p; Conflicts: mta; Provides: mta', 'e; Conflicts: mta; Provides: mta'], request: ['p', 'e'] },
  { name: 'request-and-conflict', stanzas: ['app; Depends: a | b', 'a; Conflicts: z', 'b', 'z'], request: ['app', 'z'] },
];

const RELATION_FIELDS = ['Pre-Depends', 'Depends', 'Conflicts', 'Breaks', 'Provides', 'Recommends', 'Suggests', 'Replaces', 'Enhances'];

describe('resolve agrees with apt-get on hand-made cases (local repository)', { skip: missing }, () => {
  let dir = '';
  let apt: PrivateApt;
  let universe: PackageUniverse;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pith-resolve-cases-'));
    const stanzas: string[] = [];
    const rename = (c: string, value: string) =>
      value.replace(/(^|[\s,|])([a-z][a-z0-9]*)(?=$|[\s,|(])/g, (_m, pre: string, n: string) => `${pre}${c}-${n}`);
    for (const c of LOCAL_CASES) {
      for (const s of c.stanzas) {
        const [pkgName, ...rest] = s.split(';').map((x) => x.trim());
        const fields: Record<string, string> = { Package: `${c.name}-${pkgName}`, Version: '1', Architecture: 'amd64', Priority: 'optional' };
        for (const f of rest) {
          const i = f.indexOf(':');
          const key = f.slice(0, i).trim();
          const value = f.slice(i + 1).trim();
          fields[key] = RELATION_FIELDS.includes(key) ? rename(c.name, value) : value;
        }
        const name = fields['Package']!;
        Object.assign(fields, { Maintainer: 'pith tests <tests@example.org>', Filename: `pool/${name}_1_amd64.deb`, Size: '1000', SHA256: '0'.repeat(64), Description: `case ${c.name}` });
        stanzas.push(Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join('\n'));
      }
    }
    const repo = join(dir, 'repo');
    await mkdir(repo, { recursive: true });
    const text = stanzas.join('\n\n') + '\n';
    await writeFile(join(repo, 'Packages'), text);
    apt = await privateApt(join(dir, 'apt'), `deb [trusted=yes] file:${repo} ./\n`);
    const up = await apt.run(['update']);
    assert.equal(up.code, 0, up.stdout + up.stderr);
    const { packages } = await loadLists(apt);
    assert.ok(packages.length > 0, 'apt-get update produced no Packages list for the local repository');
    universe = new PackageUniverse(packages, { architecture: 'amd64' });
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const c of LOCAL_CASES) {
    test(c.name, async () => {
      const request = c.request.map((r) => `${c.name}-${r}`);
      assertAgrees(request, await aptInstall(apt, request), pith(universe, request));
    });
  }
});
