import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isPithError, loadSpec, parseSpec } from 'pith';

test('the base example parses', () => {
  const { spec } = loadSpec(new URL('../../examples/base/pith.yaml', import.meta.url).pathname);
  assert.equal(spec.name, 'base');
  assert.ok(spec.packages.includes('libc6'));
  assert.equal(spec.exclude, undefined);
});

test('exclusions are names or {name, reason}', () => {
  const spec = parseSpec('name: x1\npackages: [bash]\nexclude: [foo, {name: bar, reason: because}]\n', 'p.yaml');
  assert.deepEqual(spec.exclude, [{ name: 'foo', reason: undefined }, { name: 'bar', reason: 'because' }]);
});

test('libraries: auto (the default), check or off', () => {
  assert.equal(parseSpec('name: x1\npackages: [bash]\n', 'p.yaml').libraries, undefined);
  assert.equal(parseSpec('name: x1\npackages: [bash]\nlibraries: check\n', 'p.yaml').libraries, 'check');
});

const cases: Array<[string, string, RegExp]> = [
  ['unknown key', 'name: x1\npackages: [bash]\npackges: [curl]\n', /^p\.yaml:3:1: unknown key "packges" in \(top level\); did you mean "packages"\?$/],
  ['unknown nested key', 'name: x1\npackages: [bash]\narchive:\n  keyrng: /k\n', /^p\.yaml:4:3: unknown key "keyrng" in archive; did you mean "keyring"\?$/],
  ['unknown key in a list item', 'name: x1\npackages: [bash]\naccounts:\n  users:\n    - name: app\n      uid: 1\n      hme: /h\n', /^p\.yaml:7:7: unknown key "hme" in accounts\.users\.0; did you mean "home"/],
  ['unknown key like nothing', 'name: x1\npackages: [bash]\nzzzzzz: 1\n', /^p\.yaml:3:1: unknown key "zzzzzz" in \(top level\)$/],
  ['bad package name', 'name: x1\npackages:\n  - bash\n  - Bad Name\n', /^p\.yaml:4:5: packages\.1: expected a Debian package name.*found "Bad Name"$/],
  ['missing name', 'packages: [bash]\n', /missing required key "name"/],
  ['wrong type', 'name: x1\npackages: bash\n', /^p\.yaml:2:11: packages: expected array, found "bash"$/],
  ['bad source uri', 'name: x1\npackages: [bash]\narchive:\n  sources:\n    - uri: ftp://h/debian\n      suites: [s]\n      components: [main]\n', /^p\.yaml:5:12: archive\.sources\.0\.uri: expected an http/],
  ['bad timezone', 'name: x1\npackages: [bash]\ntimezone: ../etc\n', /^p\.yaml:3:11: timezone: expected a zone name such as Europe\/Paris, found "\.\.\/etc"$/],
  ['bad libraries mode', 'name: x1\npackages: [bash]\nlibraries: yes\n', /^p\.yaml:3:12: libraries: .*"auto".*"check".*"off".*found "yes"$/],
  ['YAML syntax', 'name: x1\npackages: [bash\n', /^p\.yaml:\d+:\d+: invalid YAML/],
  // yaml itself reports the line after; the place to fix is the `[`.
  ['unclosed flow sequence', 'name: x1\npackages: [bash, curl\nentrypoint: [/bin/x]\n', /^p\.yaml:2:11: invalid YAML/],
  ['duplicate key', 'name: x1\nname: x2\npackages: [bash]\n', /^p\.yaml:2:1: invalid YAML/],
];
for (const [what, text, message] of cases) {
  test(`spec error: ${what} names file:line:column`, () => {
    assert.throws(() => parseSpec(text, 'p.yaml'), (e) => (isPithError(e, 'SPEC_INVALID') || isPithError(e, 'SPEC_SYNTAX')) && message.test(e.message));
  });
}

test('a missing spec file is a clear error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pith-spec-'));
  assert.throws(() => loadSpec(join(dir, 'nope.yaml')), (e) => isPithError(e, 'SPEC_NOT_FOUND') && /nope\.yaml: cannot read the spec \(ENOENT\)/.test(e.message));
  writeFileSync(join(dir, 'ok.yaml'), 'name: ok\npackages: [libc6]\n');
  assert.equal(loadSpec(join(dir, 'ok.yaml')).dir, dir);
  rmSync(dir, { recursive: true, force: true });
});

test('packages: [] is a spec: an image of only files', () => {
  assert.deepEqual(parseSpec('name: x1\npackages: []\nfiles: [{from: app, to: /app}]\n', 'p.yaml').packages, []);
});

test("loadSpec keeps each packages: entry's file:line:column", () => {
  const dir = mkdtempSync(join(tmpdir(), 'pith-spec-'));
  writeFileSync(join(dir, 'p.yaml'), 'name: ok\npackages:\n  - libc6\n  - curl\n');
  const loaded = loadSpec(join(dir, 'p.yaml'));
  assert.deepEqual([0, 1].map((i) => loaded.at?.(['packages', i])), [`${join(dir, 'p.yaml')}:3:5`, `${join(dir, 'p.yaml')}:4:5`]);
  rmSync(dir, { recursive: true, force: true });
});
