import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BinaryPackage, IndexOrigin } from '../../src/debian/packages.ts';
import { PackageUniverse, resolve, type Resolution } from '../../src/debian/resolve.ts';
import { isPithError, type ErrorCode } from '../../src/errors.ts';

function origin(suite = 'bookworm', architecture = 'amd64'): IndexOrigin {
  return { uri: 'http://127.0.0.1:8080/debian', suite, component: 'main', architecture };
}

function pkg(name: string, version = '1.0-1', fields: Partial<BinaryPackage> = {}): BinaryPackage {
  const arch = fields.architecture ?? 'amd64';
  return {
    name,
    version,
    architecture: arch,
    source: name,
    sourceVersion: version,
    multiArch: 'no',
    essential: false,
    important: false,
    priority: 'optional',
    filename: `pool/main/${name[0]}/${name}/${name}_${version}_${arch}.deb`,
    size: 1000,
    sha256: '0'.repeat(64),
    origin: origin(),
    ...fields,
  };
}

function universe(pkgs: BinaryPackage[], foreignArchitectures?: string[]): PackageUniverse {
  return new PackageUniverse(pkgs, foreignArchitectures ? { architecture: 'amd64', foreignArchitectures } : { architecture: 'amd64' });
}

const names = (r: Resolution) => r.packages.map((p) => p.name);
const withArch = (r: Resolution) => r.packages.map((p) => `${p.name}:${p.architecture}`);

function throwsCode(fn: () => unknown, code: ErrorCode, ...fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isPithError(e, code), `expected ${code}, got ${String(e)}`);
    for (const f of fragments) assert.ok(e.message.includes(f), `"${f}" not in: ${e.message}`);
    return true;
  });
}

test('follows Pre-Depends and Depends transitively, with reasons and sorted output', () => {
  const u = universe([
    pkg('app', '1', { depends: 'libfoo (>= 1)' }),
    pkg('libfoo', '1.0-1', { preDepends: 'libc6' }),
    pkg('libc6', '2.36-9'),
    pkg('unrelated'),
  ]);
  const r = resolve(u, ['app']);
  assert.deepEqual(names(r), ['app', 'libc6', 'libfoo']);
  const byName = Object.fromEntries(r.packages.map((p) => [p.name, p]));
  assert.deepEqual(byName.app!.reason, ['app']);
  assert.deepEqual(byName.libfoo!.reason, ['app', 'libfoo']);
  assert.deepEqual(byName.libc6!.reason, ['app', 'libfoo', 'libc6']);
  assert.equal(byName.libc6!.version, '2.36-9');
  assert.equal(byName.libc6!.filename, 'pool/main/l/libc6/libc6_2.36-9_amd64.deb');
  assert.equal(r.architecture, 'amd64');
});

test('the candidate is the highest version across all indexes', () => {
  const u = universe([
    pkg('app', '1', { depends: 'libssl3' }),
    pkg('libssl3', '3.0.11-1'),
    pkg('libssl3', '3.0.15-1', { origin: origin('bookworm-security'), filename: 'pool/updates/libssl3.deb' }),
    pkg('libssl3', '3.0.13-1', { origin: origin('bookworm-updates') }),
  ]);
  const p = resolve(u, ['app']).packages.find((x) => x.name === 'libssl3')!;
  assert.equal(p.version, '3.0.15-1');
  assert.equal(p.filename, 'pool/updates/libssl3.deb');
  assert.equal(p.package.origin.suite, 'bookworm-security');
});

test('name=version selects that version; an unknown version lists the available ones', () => {
  const u = universe([pkg('libssl3', '3.0.11-1'), pkg('libssl3', '3.0.15-1', { origin: origin('bookworm-security') })]);
  assert.equal(resolve(u, ['libssl3=3.0.11-1']).packages[0]!.version, '3.0.11-1');
  throwsCode(() => resolve(u, ['libssl3=9.9']), 'UNKNOWN_VERSION', 'libssl3', '9.9', '3.0.11-1 (bookworm)', '3.0.15-1 (bookworm-security)');
});

test('a versioned dependency that no version satisfies shows the failing chain', () => {
  const u = universe([pkg('app', '1', { depends: 'libfoo (>= 2)' }), pkg('libfoo', '1.0-1')]);
  throwsCode(() => resolve(u, ['app']), 'UNSATISFIABLE', 'app → libfoo (>= 2) → no version of libfoo satisfies >= 2; available: 1.0-1');
});

test('the chain names each package on the way to the failure', () => {
  const u = universe([
    pkg('app', '1', { depends: 'libfoo' }),
    pkg('libfoo', '1', { depends: 'libbar (>= 2)' }),
    pkg('libbar', '1.5'),
  ]);
  throwsCode(() => resolve(u, ['app']), 'UNSATISFIABLE', 'app → libfoo → libbar (>= 2) → no version of libbar satisfies >= 2; available: 1.5');
});

test('only the candidate counts: an older version that would satisfy is not used (as in apt)', () => {
  const u = universe([pkg('app', '1', { depends: 'libfoo (<< 2)' }), pkg('libfoo', '1.0'), pkg('libfoo', '2.0')]);
  throwsCode(() => resolve(u, ['app']), 'UNSATISFIABLE', 'the candidate libfoo 2.0 does not satisfy << 2');
  // Requesting the older version explicitly makes it the candidate.
  assert.deepEqual(
    resolve(u, ['app', 'libfoo=1.0']).packages.map((p) => `${p.name}=${p.version}`),
    ['app=1', 'libfoo=1.0'],
  );
});

test('an OR group takes the first alternative that can be installed', () => {
  const u = universe([pkg('app', '1', { depends: 'missing | b | c' }), pkg('b'), pkg('c')]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app', 'b']);
});

test('dependencies are followed depth-first in field order, so an OR group may already be satisfied', () => {
  const u = universe([pkg('app', '1', { depends: 'x, a | b' }), pkg('x', '1', { depends: 'b' }), pkg('a'), pkg('b')]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app', 'b', 'x']);
});

test('Pre-Depends are handled before Depends', () => {
  const u = universe([pkg('app', '1', { preDepends: 'a | b', depends: 'b' }), pkg('a'), pkg('b')]);
  assert.deepEqual(names(resolve(u, ['app'])), ['a', 'app', 'b']);
});

test('every requested package is marked before any dependency is followed', () => {
  const u = universe([
    pkg('app', '1', { depends: 'virt' }),
    pkg('x', '1', { provides: 'virt', priority: 'required' }),
    pkg('y', '1', { provides: 'virt' }),
  ]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app', 'x']);
  assert.deepEqual(names(resolve(u, ['app', 'y'])), ['app', 'y']);
});

test('a virtual package is satisfied by a provider; higher Priority wins', () => {
  const u = universe([
    pkg('app', '1', { depends: 'mail-transport-agent' }),
    pkg('exim', '1', { provides: 'mail-transport-agent', priority: 'optional' }),
    pkg('postfix', '1', { provides: 'mail-transport-agent', priority: 'standard' }),
  ]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app', 'postfix']);
});

test('a package of the dependency\'s own name beats providers of it, whatever their priority', () => {
  const u = universe([
    pkg('app', '1', { depends: 'awk' }),
    pkg('awk', '1', { priority: 'extra' }),
    pkg('mawk', '1', { provides: 'awk', priority: 'required' }),
  ]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app', 'awk']);
});

test('Essential providers beat higher-priority ones', () => {
  const u = universe([
    pkg('app', '1', { depends: 'virt' }),
    pkg('req', '1', { provides: 'virt', priority: 'required' }),
    pkg('ess', '1', { provides: 'virt', essential: true, priority: 'optional' }),
  ]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app', 'ess']);
});

test('Important (Protected) providers beat higher-priority ones', () => {
  const important = { ...pkg('imp', '1', { provides: 'virt' }), important: true } as BinaryPackage;
  const u = universe([pkg('app', '1', { depends: 'virt' }), pkg('req', '1', { provides: 'virt', priority: 'required' }), important]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app', 'imp']);
});

test('native architecture providers beat foreign ones, before priority', () => {
  const u = universe(
    [
      pkg('app', '1', { depends: 'virt' }),
      pkg('foreign', '1', { architecture: 'i386', multiArch: 'foreign', provides: 'virt', priority: 'required' }),
      pkg('native', '1', { provides: 'virt' }),
    ],
    ['i386'],
  );
  assert.deepEqual(withArch(resolve(u, ['app'])), ['app:amd64', 'native:amd64']);
});

test('on a full tie the package apt met last (highest package id) wins', () => {
  const mk = (order: string[]) =>
    universe([...order.map((n) => pkg(n, '1', { provides: 'virt' })), pkg('app', '1', { depends: 'virt' })]);
  assert.deepEqual(names(resolve(mk(['p1', 'p2']), ['app'])), ['app', 'p2']);
  assert.deepEqual(names(resolve(mk(['p2', 'p1']), ['app'])), ['app', 'p1']);
  // A name mentioned earlier in another package's relations was created earlier, so it has the lower id.
  const u = universe([
    pkg('early', '1', { suggests: 'p2' } as Partial<BinaryPackage>),
    pkg('p1', '1', { provides: 'virt' }),
    pkg('p2', '1', { provides: 'virt' }),
    pkg('app', '1', { depends: 'virt' }),
  ]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app', 'p1']);
});

test('versioned dependencies are satisfied only by versioned provides that match', () => {
  const u = universe([
    pkg('app', '1', { depends: 'virt (>= 2)' }),
    pkg('unversioned', '1', { provides: 'virt', priority: 'required' }),
    pkg('old', '1', { provides: 'virt (= 1)', priority: 'required' }),
    pkg('new', '1', { provides: 'virt (= 3)' }),
  ]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app', 'new']);
});

test('an alternative whose dependencies have no candidate is skipped', () => {
  const u = universe([pkg('app', '1', { depends: 'a | b' }), pkg('a', '1', { depends: 'missing' }), pkg('b')]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app', 'b']);
});

test('an alternative that fails deeper is abandoned and what it pulled in is not installed', () => {
  const u = universe([
    pkg('app', '1', { depends: 'a | b' }),
    pkg('a', '1', { depends: 'c, d' }),
    pkg('c'),
    pkg('d', '1', { depends: 'missing' }),
    pkg('b'),
  ]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app', 'b']);
});

test('an alternative that conflicts with a marked package is skipped (its Conflicts)', () => {
  const u = universe([pkg('app', '1', { depends: 'a | b' }), pkg('a', '1', { conflicts: 'z' }), pkg('b'), pkg('z')]);
  assert.deepEqual(names(resolve(u, ['app'])), ['a', 'app']);
  assert.deepEqual(names(resolve(u, ['app', 'z'])), ['app', 'b', 'z']);
});

test('an alternative a marked package conflicts with or breaks is skipped', () => {
  const u = universe([
    pkg('app', '1', { depends: 'a | b' }),
    pkg('a', '2.0'),
    pkg('b'),
    pkg('z', '1', { breaks: 'a (<< 3)' }),
  ]);
  assert.deepEqual(names(resolve(u, ['app', 'z'])), ['app', 'b', 'z']);
});

test('Conflicts match providers, but never the package itself', () => {
  const u = universe([
    pkg('app', '1', { depends: 'a | b' }),
    pkg('a', '1', { conflicts: 'mta', provides: 'mta' }),
    pkg('b'),
    pkg('other', '1', { provides: 'mta' }),
  ]);
  assert.deepEqual(names(resolve(u, ['app'])), ['a', 'app']);
  assert.deepEqual(names(resolve(u, ['app', 'other'])), ['app', 'b', 'other']);
});

test('conflicting requests are an error naming both', () => {
  const u = universe([pkg('postfix', '1', { conflicts: 'mail-transport-agent', provides: 'mail-transport-agent' }), pkg('exim', '1', { conflicts: 'mail-transport-agent', provides: 'mail-transport-agent' })]);
  throwsCode(() => resolve(u, ['postfix', 'exim']), 'UNSATISFIABLE', 'conflicts with', 'mail-transport-agent');
});

test('a conflict among hundreds of requests puts its cause first and names only the packages involved', () => {
  const filler = Array.from({ length: 300 }, (_, i) => pkg(`pkg${String(i).padStart(3, '0')}`));
  const u = universe([...filler, pkg('web', '1', { depends: 'postfix' }), pkg('postfix', '1', { conflicts: 'exim' }), pkg('exim')]);
  const requests = [...filler.map((p) => p.name), 'web', 'exim'];
  assert.throws(
    () => resolve(u, requests),
    (e) => {
      assert.ok(isPithError(e, 'UNSATISFIABLE'));
      const message = e.message;
      assert.ok(/^cannot install (web → postfix → conflicts with exim|exim → postfix conflicts with it)/.test(message), message);
      assert.ok(!message.includes('pkg000') && !message.includes('pkg299'), message);
      assert.ok(message.length < 300, message);
      return true;
    },
  );
});

test('Multi-Arch: foreign packages of another architecture satisfy dependencies', () => {
  const pkgs = (ma: BinaryPackage['multiArch']) => [
    pkg('app', '1', { architecture: 'i386', depends: 'tool' }),
    pkg('tool', '1', { multiArch: ma }),
  ];
  assert.deepEqual(withArch(resolve(universe(pkgs('foreign'), ['i386']), ['app:i386'])), ['app:i386', 'tool:amd64']);
  throwsCode(() => resolve(universe(pkgs('no'), ['i386']), ['app:i386']), 'UNSATISFIABLE', 'app:i386 → tool → tool is not available for i386');
});

test(':any needs Multi-Arch: allowed', () => {
  const pkgs = (ma: BinaryPackage['multiArch']) => [pkg('app', '1', { depends: 'perl:any' }), pkg('perl', '5.36', { multiArch: ma })];
  assert.deepEqual(names(resolve(universe(pkgs('allowed')), ['app'])), ['app', 'perl']);
  throwsCode(() => resolve(universe(pkgs('no')), ['app']), 'UNSATISFIABLE', 'perl is not Multi-Arch: allowed');
});

test(':native means the native architecture', () => {
  const u = universe(
    [pkg('app', '1', { architecture: 'i386', depends: 'gen:native' }), pkg('gen'), pkg('gen', '1', { architecture: 'i386' })],
    ['i386'],
  );
  assert.deepEqual(withArch(resolve(u, ['app:i386'])), ['app:i386', 'gen:amd64']);
});

test('Architecture: all packages count as native', () => {
  const pkgs = (ma: BinaryPackage['multiArch']) => [
    pkg('app', '1', { depends: 'data' }),
    pkg('app', '1', { architecture: 'i386', depends: 'data' }),
    pkg('data', '1', { architecture: 'all', multiArch: ma }),
  ];
  assert.deepEqual(withArch(resolve(universe(pkgs('no'), ['i386']), ['app'])), ['app:amd64', 'data:all']);
  throwsCode(() => resolve(universe(pkgs('no'), ['i386']), ['app:i386']), 'UNSATISFIABLE', 'data is not available for i386');
  assert.deepEqual(withArch(resolve(universe(pkgs('foreign'), ['i386']), ['app:i386'])), ['app:i386', 'data:all']);
});

test('a name without :arch prefers the native architecture; name:arch selects one', () => {
  const u = universe([pkg('lib'), pkg('lib', '1', { architecture: 'i386' })], ['i386']);
  assert.deepEqual(withArch(resolve(u, ['lib'])), ['lib:amd64']);
  assert.deepEqual(withArch(resolve(u, ['lib:i386'])), ['lib:i386']);
  throwsCode(() => resolve(u, ['lib:arm64']), 'UNKNOWN_ARCHITECTURE', 'arm64');
});

test('two architectures of one package need Multi-Arch: same at one version', () => {
  const pkgs = (ma: BinaryPackage['multiArch']) => [pkg('lib', '1', { multiArch: ma }), pkg('lib', '1', { architecture: 'i386', multiArch: ma })];
  assert.deepEqual(withArch(resolve(universe(pkgs('same'), ['i386']), ['lib', 'lib:i386'])), ['lib:amd64', 'lib:i386']);
  throwsCode(() => resolve(universe(pkgs('no'), ['i386']), ['lib', 'lib:i386']), 'UNSATISFIABLE', 'cannot be co-installed');
});

test('Essential packages are not added implicitly', () => {
  const u = universe([pkg('app'), pkg('base-files', '12', { essential: true, priority: 'required' }), pkg('dash', '1', { essential: true })]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app']);
});

test('an unknown package suggests close names', () => {
  const u = universe([pkg('python3'), pkg('python3.11'), pkg('python3-minimal'), pkg('perl'), pkg('x', '1', { provides: 'python3-foo' })]);
  throwsCode(() => resolve(u, ['pyhton3']), 'UNKNOWN_PACKAGE', 'pyhton3', 'did you mean python3');
  assert.throws(
    () => resolve(u, ['python']),
    (e: unknown) => isPithError(e, 'UNKNOWN_PACKAGE') && /python3/.test(e.message) && !/perl/.test(e.message),
  );
});

test('a virtual package with one provider selects it; with several it is an error', () => {
  const one = universe([pkg('mawk', '1.3', { provides: 'awk' })]);
  assert.deepEqual(names(resolve(one, ['awk'])), ['mawk']);
  const two = universe([pkg('mawk', '1.3', { provides: 'awk' }), pkg('gawk', '5.2', { provides: 'awk' })]);
  throwsCode(() => resolve(two, ['awk']), 'VIRTUAL_PACKAGE', 'gawk 5.2', 'mawk 1.3');
});

test('a dependency on a package nobody provides', () => {
  const u = universe([pkg('app', '1', { depends: 'ghost' })]);
  throwsCode(() => resolve(u, ['app']), 'UNSATISFIABLE', 'app → ghost → no package named ghost is available');
});

test('relations are parsed lazily: a malformed field in an unvisited package does no harm', () => {
  const u = universe([pkg('app', '1', { depends: 'lib' }), pkg('lib'), pkg('broken', '1', { depends: 'foo (>= ' })]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app', 'lib']);
  throwsCode(() => resolve(u, ['broken']), 'RELATION_SYNTAX', 'broken 1 (amd64) Depends');
});

test('exclusions drop a package and what only it pulled in, and say who needed it', () => {
  const u = universe([
    pkg('app', '1', { depends: 'debconf, libshared, tool' }),
    pkg('tool', '1', { depends: 'debconf' }),
    pkg('debconf', '1', { depends: 'perl-base, libshared' }),
    pkg('perl-base'),
    pkg('libshared'),
  ]);
  const full = resolve(u, ['app']);
  assert.deepEqual(names(full), ['app', 'debconf', 'libshared', 'perl-base', 'tool']);
  assert.deepEqual(full.exclusions, []);
  const r = resolve(u, ['app'], { exclude: [{ name: 'debconf', reason: 'only used by maintainer scripts' }, { name: 'not-there' }] });
  assert.deepEqual(names(r), ['app', 'libshared', 'tool']);
  assert.deepEqual(r.exclusions, [
    { name: 'debconf', reason: 'only used by maintainer scripts', requiredBy: ['app', 'tool'], alsoDropped: ['perl-base'] },
  ]);
});

test('reachability after an exclusion avoids the excluded package', () => {
  const u = universe([
    pkg('app', '1', { depends: 'a, b' }),
    pkg('a', '1', { depends: 'deep' }),
    pkg('b', '1', { depends: 'deep2' }),
    pkg('deep', '1', { depends: 'deeper' }),
    pkg('deep2', '1', { depends: 'deeper' }),
    pkg('deeper'),
  ]);
  const r = resolve(u, ['app'], { exclude: [{ name: 'a' }] });
  assert.deepEqual(names(r), ['app', 'b', 'deep2', 'deeper']);
  assert.deepEqual(r.exclusions[0]!.alsoDropped, ['deep']);
  assert.deepEqual(r.packages.find((p) => p.name === 'deeper')!.reason, ['app', 'b', 'deep2', 'deeper']);
});

test('an Essential package that only an excluded package pulled in goes with it', () => {
  const u = universe([
    pkg('app', '1', { depends: 'debconf' }),
    pkg('debconf', '1', { preDepends: 'perl-base' }),
    pkg('perl-base', '1', { essential: true, priority: 'required' }),
  ]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app', 'debconf', 'perl-base']);
  const r = resolve(u, ['app'], { exclude: [{ name: 'debconf' }] });
  assert.deepEqual(names(r), ['app']);
  assert.deepEqual(r.exclusions[0]!.alsoDropped, ['perl-base']);
});

test('an ignored dependency edge drops its target only when nothing else needs it', () => {
  const u = universe([
    pkg('ca-certificates', '1', { depends: 'openssl (>= 1.1.1)' }),
    pkg('openssl', '3', { depends: 'libssl3' }),
    pkg('libssl3', '3'),
    pkg('client', '1', { depends: 'openssl' }),
  ]);
  const ignore = [{ from: 'ca-certificates', to: 'openssl', reason: 'postinst only' }];
  const alone = resolve(u, ['ca-certificates'], { ignoreDependencies: ignore });
  assert.deepEqual(names(alone), ['ca-certificates']);
  assert.deepEqual(alone.exclusions, [{ name: 'openssl', reason: 'postinst only', requiredBy: ['ca-certificates'], alsoDropped: ['libssl3'] }]);
  const needed = resolve(u, ['ca-certificates', 'client'], { ignoreDependencies: ignore });
  assert.deepEqual(names(needed), ['ca-certificates', 'client', 'libssl3', 'openssl']);
  assert.deepEqual(needed.exclusions, []);
  assert.deepEqual(resolve(u, ['client'], { ignoreDependencies: ignore }).exclusions, [], 'an edge from a package not installed changes nothing');
});

test('excluding a requested package is an error', () => {
  const u = universe([pkg('app')]);
  throwsCode(() => resolve(u, ['app'], { exclude: [{ name: 'app' }] }), 'EXCLUDE_REQUESTED', 'app');
});

test('no requests resolve to nothing (a spec of only files:), as apt-get install with no names installs nothing', () => {
  const u = universe([pkg('app'), pkg('base', '1', { essential: true })]);
  assert.deepEqual(resolve(u, []).packages, []);
});

test('malformed requests and an unknown resolution architecture are errors', () => {
  const u = universe([pkg('app')]);
  throwsCode(() => resolve(u, ['app (>= 1)']), 'INVALID_REQUEST', 'NAME=VERSION');
  throwsCode(() => resolve(u, ['app'], { architecture: 'arm64' }), 'UNKNOWN_ARCHITECTURE', 'amd64');
});

test('a universe holding several architectures resolves for any of them', () => {
  const u = new PackageUniverse(
    [pkg('app', '1', { depends: 'lib' }), pkg('lib'), pkg('app', '1', { architecture: 'arm64', depends: 'lib' }), pkg('lib', '1', { architecture: 'arm64' })],
    { architecture: 'amd64', foreignArchitectures: ['arm64'] },
  );
  const r = resolve(u, ['app'], { architecture: 'arm64' });
  assert.equal(r.architecture, 'arm64');
  assert.deepEqual(withArch(r), ['app:arm64', 'lib:arm64']);
});

test('an alternative whose dependencies have no candidate is rejected before anything is marked for it', () => {
  // Were `a` marked first, its dependency `c` would be marked before `missing` failed, and would then satisfy
  // `d | c` (apt leaves such marks in place); apt's IsInstallOk check rejects `a` up front instead.
  const u = universe([
    pkg('app', '1', { depends: 'a | b, d | c' }),
    pkg('a', '1', { depends: 'c, missing' }),
    pkg('b'),
    pkg('c'),
    pkg('d'),
  ]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app', 'b', 'd']);
});

test('marks left by an abandoned alternative still satisfy later dependencies, as in apt', () => {
  // `a` passes the up-front check (all its dependencies have candidates) but fails below `e`; `c`, marked on
  // the way, stays marked and satisfies `d | c`.
  const u = universe([
    pkg('app', '1', { depends: 'a | b, d | c' }),
    pkg('a', '1', { depends: 'c, e' }),
    pkg('e', '1', { depends: 'missing' }),
    pkg('b'),
    pkg('c'),
    pkg('d'),
  ]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app', 'b', 'c']);
});

// The next cases were checked against apt-get 2.6 on the same packages (a local repository, empty status).

test('a package whose Conflicts hit an auto-installed choice un-marks it; the dependency is then re-solved', () => {
  const u = universe([pkg('app', '1', { depends: 'a | b, x' }), pkg('a'), pkg('b'), pkg('x', '1', { conflicts: 'a' })]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app', 'b', 'x']);
});

test('a protected package (sole solution of a request\'s dependency) is never un-marked by a conflict', () => {
  const u = universe([pkg('app', '1', { depends: 'x, a | b' }), pkg('a', '1', { conflicts: 'x' }), pkg('b'), pkg('x')]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app', 'b', 'x']);
});

test('a dependent left broken by an un-marked package is given up for another alternative', () => {
  const u = universe([
    pkg('app', '1', { depends: 'y | z, x' }),
    pkg('y', '1', { depends: 'a' }),
    pkg('z'),
    pkg('a'),
    pkg('x', '1', { conflicts: 'a' }),
  ]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app', 'x', 'z']);
});

test('a conflict nothing can resolve is reported with the package it breaks', () => {
  const u = universe([pkg('app', '1', { depends: 'a | b, x' }), pkg('a', '1', { breaks: 'x (<< 2)' }), pkg('b'), pkg('x')]);
  throwsCode(() => resolve(u, ['app']), 'UNSATISFIABLE', 'app → a → breaks x (Breaks: x (<< 2))');
});

test('a dependent that is not protected is held back when a conflict breaks it; its parent takes another alternative', () => {
  const u = universe([
    pkg('app', '1', { depends: 'm | n' }),
    pkg('m', '1', { depends: 'a | b, x' }),
    pkg('n'),
    pkg('a'),
    pkg('b'),
    pkg('x', '1', { conflicts: 'a' }),
  ]);
  assert.deepEqual(names(resolve(u, ['app'])), ['app', 'n']);
});

test('a package left marked by an abandoned alternative stays if something kept recommends it, or if it is Essential', () => {
  const base = (b: BinaryPackage, c: BinaryPackage) =>
    universe([pkg('app', '1', { depends: 'a | b' }), pkg('a', '1', { depends: 'c, e' }), pkg('e', '1', { depends: 'missing' }), b, c]);
  assert.deepEqual(names(resolve(base(pkg('b'), pkg('c')), ['app'])), ['app', 'b']);
  const recommending = { ...pkg('b'), recommends: 'c' } as BinaryPackage;
  assert.deepEqual(names(resolve(base(recommending, pkg('c')), ['app'])), ['app', 'b', 'c']);
  assert.deepEqual(names(resolve(base(pkg('b'), pkg('c', '1', { essential: true })), ['app'])), ['app', 'b', 'c']);
});
