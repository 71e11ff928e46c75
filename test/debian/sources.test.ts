import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPithError, type ErrorCode } from '../../src/errors.ts';
import { loadAptSources, parseDeb822Sources, parseSourceLine, parseSourcesList } from '../../src/debian/sources.ts';

// Fixture hosts use the reserved .example domain: no real mirror is named here.
const M = 'http://archive.example/debian';

function throwsCode(fn: () => unknown, code: ErrorCode, ...fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isPithError(e, code), `expected PithError ${code}, got ${String(e)}`);
    for (const f of fragments) assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

test('one-line format: deb lines, options, comments, deb-src skipped', () => {
  const warnings: string[] = [];
  const text = [
    '# a comment',
    '',
    `deb ${M}/ bookworm main contrib   # trailing comment`,
    `deb-src ${M} bookworm main`,
    `deb [ arch=amd64,arm64 signed-by=/usr/share/keyrings/a.gpg lang=en ] ${M} bookworm-updates main`,
    `deb [trusted=yes] ${M} sid main`,
    `deb[arch=i386] ${M} trixie main`,
    '   ',
  ].join('\n');
  const entries = parseSourcesList(text, '/etc/apt/sources.list', { onWarning: (m) => warnings.push(m) });
  assert.deepEqual(entries, [
    { uri: M, suites: ['bookworm'], components: ['main', 'contrib'], where: '/etc/apt/sources.list:3' },
    {
      uri: M,
      suites: ['bookworm-updates'],
      components: ['main'],
      architectures: ['amd64', 'arm64'],
      signedBy: '/usr/share/keyrings/a.gpg',
      where: '/etc/apt/sources.list:5',
    },
    { uri: M, suites: ['sid'], components: ['main'], where: '/etc/apt/sources.list:6' },
    { uri: M, suites: ['trixie'], components: ['main'], architectures: ['i386'], where: '/etc/apt/sources.list:7' },
  ]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /sources\.list:6: ignoring "trusted=yes"/);
});

test('one-line format: malformed lines name file:line', () => {
  throwsCode(() => parseSourcesList(`\ndeb ${M}`, 'x.list'), 'SOURCES_MALFORMED', 'x.list:2', 'no suite');
  throwsCode(() => parseSourcesList(`deb ${M} bookworm`, 'x.list'), 'SOURCES_MALFORMED', 'x.list:1', 'component');
  throwsCode(() => parseSourcesList(`dep ${M} bookworm main`, 'x.list'), 'SOURCES_MALFORMED', 'x.list:1', '"dep"');
  throwsCode(() => parseSourcesList(`deb [arch=amd64 ${M} bookworm main`, 'x.list'), 'SOURCES_MALFORMED', 'x.list:1', '"]"');
  throwsCode(() => parseSourcesList(`deb [arch] ${M} bookworm main`, 'x.list'), 'SOURCES_MALFORMED', 'x.list:1', '"arch"');
  throwsCode(() => parseSourcesList('deb archive.example/debian bookworm main', 'x.list'), 'SOURCES_MALFORMED', 'x.list:1', 'URI');
  throwsCode(() => parseSourcesList('deb', 'x.list'), 'SOURCES_MALFORMED', 'x.list:1', 'no URI');
});

test('flat repositories and unsupported schemes are refused with file:line', () => {
  throwsCode(() => parseSourcesList(`deb ${M} ./`, 'flat.list'), 'SOURCES_UNSUPPORTED', 'flat.list:1', 'flat repository');
  throwsCode(
    () => parseSourcesList('deb cdrom:[Debian GNU/Linux 12 _Bookworm_]/ bookworm main', 'cd.list'),
    'SOURCES_UNSUPPORTED',
    'cd.list:1',
    '"cdrom:"',
  );
  throwsCode(() => parseSourcesList('deb mirror+http://archive.example/list bookworm main', 'm.list'), 'SOURCES_UNSUPPORTED', 'm.list:1', 'mirror+http');
  throwsCode(() => parseSourcesList(`deb tor+${M} bookworm main`, 't.list'), 'SOURCES_UNSUPPORTED', 't.list:1');
  // a deb-src line is never used, so its URI does not matter
  assert.deepEqual(parseSourcesList('deb-src cdrom:[x]/ bookworm main', 'ok.list'), []);
});

test('parseSourceLine: a --source flag value', () => {
  assert.deepEqual(parseSourceLine(`deb [signed-by=/k.gpg arch=amd64] ${M}/// bookworm main non-free`), {
    uri: M,
    suites: ['bookworm'],
    components: ['main', 'non-free'],
    architectures: ['amd64'],
    signedBy: '/k.gpg',
    where: '--source',
  });
  throwsCode(() => parseSourceLine(`deb ${M}`), 'SOURCES_MALFORMED', '--source');
  throwsCode(() => parseSourceLine(''), 'SOURCES_MALFORMED', '--source');
  throwsCode(() => parseSourceLine(`deb-src ${M} bookworm main`), 'SOURCES_MALFORMED', '--source');
  throwsCode(() => parseSourceLine(`deb ${M} flat/`, '--source #2'), 'SOURCES_UNSUPPORTED', '--source #2');
});

const INLINE_KEY = `Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mDMEZabc
 =abcd
 -----END PGP PUBLIC KEY BLOCK-----`;

test('deb822 format: cross product, Types, Enabled, Signed-By paths and inline keys', () => {
  const warnings: string[] = [];
  const text = `Types: deb deb-src
# comment inside a stanza
URIs: ${M} http://other.example/debian/
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/a.gpg
 /usr/share/keyrings/b.gpg

Types: deb-src
URIs: ${M}
Suites: bookworm
Components: main

Types: deb
Enabled: no
URIs: ${M}
Suites: disabled
Components: main

Types: deb
URIs: ${M}
Suites: sid
Components: main
Architectures: amd64 arm64
Trusted: yes
${INLINE_KEY}
`;
  const entries = parseDeb822Sources(text, '/etc/apt/sources.list.d/x.sources', { onWarning: (m) => warnings.push(m) });
  const where1 = '/etc/apt/sources.list.d/x.sources:1';
  const signed = '/usr/share/keyrings/a.gpg,/usr/share/keyrings/b.gpg';
  const c = ['main', 'contrib'];
  assert.deepEqual(entries.slice(0, 4), [
    { uri: M, suites: ['bookworm'], components: c, signedBy: signed, where: where1 },
    { uri: M, suites: ['bookworm-updates'], components: c, signedBy: signed, where: where1 },
    { uri: 'http://other.example/debian', suites: ['bookworm'], components: c, signedBy: signed, where: where1 },
    { uri: 'http://other.example/debian', suites: ['bookworm-updates'], components: c, signedBy: signed, where: where1 },
  ]);
  assert.equal(entries.length, 5);
  const last = entries[4]!;
  assert.deepEqual(last.suites, ['sid']);
  assert.deepEqual(last.architectures, ['amd64', 'arm64']);
  assert.equal(last.where, '/etc/apt/sources.list.d/x.sources:20');
  assert.equal(
    last.signedBy,
    '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZabc\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----',
  );
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /x\.sources:20: ignoring "trusted: yes"/);
});

test('deb822 format: malformed and unsupported stanzas name file:line', () => {
  throwsCode(() => parseDeb822Sources(`Types: deb\nURIs: ${M}\nComponents: main\n`, 'a.sources'), 'SOURCES_MALFORMED', 'a.sources:1', 'Suites');
  throwsCode(
    () => parseDeb822Sources(`Types: deb\nURIs: ${M}\nSuites: sid\nComponents: main\n\nURIs: ${M}\nSuites: sid\n`, 'a.sources'),
    'SOURCES_MALFORMED',
    'a.sources:6',
    'Types',
  );
  throwsCode(() => parseDeb822Sources(`Types: deb\nURIs: ${M}\nSuites: sid\n`, 'a.sources'), 'SOURCES_MALFORMED', 'a.sources:1', 'component');
  throwsCode(() => parseDeb822Sources(`Types: rpm\nURIs: ${M}\nSuites: sid\nComponents: main\n`, 'a.sources'), 'SOURCES_MALFORMED', '"rpm"');
  throwsCode(() => parseDeb822Sources(`Types: deb\nEnabled: maybe\nURIs: ${M}\nSuites: sid\nComponents: main\n`, 'a.sources'), 'SOURCES_MALFORMED', 'Enabled');
  throwsCode(() => parseDeb822Sources('Types: deb\nthis is not a field\n', 'a.sources'), 'SOURCES_MALFORMED', 'a.sources:2');
  throwsCode(() => parseDeb822Sources(`\n\nTypes: deb\nURIs: ${M}\nSuites: ./\n`, 'a.sources'), 'SOURCES_UNSUPPORTED', 'a.sources:3', 'flat');
  throwsCode(() => parseDeb822Sources('Types: deb\nURIs: cdrom:/media/x\nSuites: sid\nComponents: main\n', 'a.sources'), 'SOURCES_UNSUPPORTED', 'a.sources:1');
});

test('loadAptSources: sources.list first, then .list/.sources in sorted order, other names ignored', () => {
  const root = mkdtempSync(join(tmpdir(), 'pith-sources-'));
  try {
    const d = join(root, 'etc/apt/sources.list.d');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(root, 'etc/apt/sources.list'), `deb ${M} main-suite main\n`);
    writeFileSync(join(d, 'b.sources'), `Types: deb\nURIs: ${M}\nSuites: b822\nComponents: main\n`);
    writeFileSync(join(d, 'a.list'), `deb ${M} a-list main\n`);
    writeFileSync(join(d, 'c.list.disabled-by-farm'), `deb ${M} disabled main\n`);
    writeFileSync(join(d, 'd.sources.save'), `Types: deb\nURIs: ${M}\nSuites: saved\nComponents: main\n`);
    writeFileSync(join(d, 'e~.list'), `deb ${M} backup main\n`);
    writeFileSync(join(d, 'f.list'), `deb ${M} ./\n`.replace('deb', '# deb'));
    const entries = loadAptSources({ root });
    assert.deepEqual(
      entries.map((e) => [e.suites[0], e.where]),
      [
        ['main-suite', `${join(root, 'etc/apt/sources.list')}:1`],
        ['a-list', `${join(d, 'a.list')}:1`],
        ['b822', `${join(d, 'b.sources')}:1`],
      ],
    );

    writeFileSync(join(d, 'g.list'), `\n\ndeb ${M} ./\n`);
    throwsCode(() => loadAptSources({ root }), 'SOURCES_UNSUPPORTED', `${join(d, 'g.list')}:3`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('loadAptSources: a root without apt sources gives no entries', () => {
  const root = mkdtempSync(join(tmpdir(), 'pith-sources-'));
  try {
    assert.deepEqual(loadAptSources({ root }), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('live: the machine apt sources parse', () => {
  // Whatever the machine has, every entry must be well-formed; the release tests fetch from them.
  for (const e of loadAptSources()) {
    assert.match(e.uri, /^[a-z+]+:/);
    assert.doesNotMatch(e.uri, /\/$/);
    assert.equal(e.suites.length, 1);
    assert.ok(e.components.length > 0);
    assert.ok(e.where && /:\d+$/.test(e.where));
  }
});
