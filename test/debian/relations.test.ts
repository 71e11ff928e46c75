import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatGroup, formatRelation, parseRelations } from '../../src/debian/relations.ts';
import { isPithError } from '../../src/errors.ts';

test('parses an AND of OR-groups with versions', () => {
  assert.deepEqual(parseRelations('libc6 (>= 2.36), libssl3 | libssl1.1 (<< 1.1.2), zlib1g'), [
    [{ name: 'libc6', op: '>=', version: '2.36' }],
    [{ name: 'libssl3' }, { name: 'libssl1.1', op: '<<', version: '1.1.2' }],
    [{ name: 'zlib1g' }],
  ]);
});

test('accepts every operator, with or without spaces', () => {
  const ops = parseRelations('a (<< 1), b (<= 1), c (= 1), d (>= 1), e (>> 1), f(>=1:2.0-1~bpo1)');
  assert.deepEqual(
    ops.map(([r]) => [r!.op, r!.version]),
    [['<<', '1'], ['<=', '1'], ['=', '1'], ['>=', '1'], ['>>', '1'], ['>=', '1:2.0-1~bpo1']],
  );
});

test('obsolete < and > mean <= and >= as in dpkg; a bare version means =', () => {
  assert.deepEqual(parseRelations('a (< 2), b (> 3), c (4.0)'), [
    [{ name: 'a', op: '<=', version: '2' }],
    [{ name: 'b', op: '>=', version: '3' }],
    [{ name: 'c', op: '=', version: '4.0' }],
  ]);
});

test('keeps architecture qualifiers', () => {
  assert.deepEqual(parseRelations('perl:any, python3:native (>= 3.11), libc6:i386'), [
    [{ name: 'perl', arch: 'any' }],
    [{ name: 'python3', arch: 'native', op: '>=', version: '3.11' }],
    [{ name: 'libc6', arch: 'i386' }],
  ]);
});

test('tolerates architecture restrictions and build profiles', () => {
  assert.deepEqual(parseRelations('foo [amd64 !i386], bar (>= 1) [linux-any] <!nocheck> <stage1 cross>, baz <!nodoc>'), [
    [{ name: 'foo' }],
    [{ name: 'bar', op: '>=', version: '1' }],
    [{ name: 'baz' }],
  ]);
});

test('continuation lines and superfluous commas', () => {
  assert.deepEqual(parseRelations('a,\n b |\n c,, ,'), [[{ name: 'a' }], [{ name: 'b' }, { name: 'c' }]]);
  assert.deepEqual(parseRelations(''), []);
});

test('formats relations back the way Debian writes them', () => {
  const [g] = parseRelations('foo:any (>= 1.2) | bar');
  assert.equal(formatGroup(g!), 'foo:any (>= 1.2) | bar');
  assert.equal(formatRelation({ name: 'x', op: '<<', version: '2' }), 'x (<< 2)');
});

for (const [field, fragment] of [
  ['foo (>= )', 'expected a version'],
  ['foo (>= 1', 'expected ")"'],
  ['a | | b', 'empty alternative'],
  ['a |', 'empty alternative'],
  ['foo bar', 'unexpected text'],
  ['foo (~= 1)', 'expected a version'],
  ['-foo', 'invalid package name'],
  ['foo:', 'invalid architecture qualifier'],
  ['foo [amd64', 'unexpected text'],
  ['foo <>', 'malformed build profile'],
] as const) {
  test(`rejects ${JSON.stringify(field)} naming the package and field`, () => {
    assert.throws(
      () => parseRelations(field, 'mypkg 1.0 (amd64) Depends'),
      (e: unknown) => {
        assert.ok(isPithError(e, 'RELATION_SYNTAX'), String(e));
        assert.match(e.message, /^mypkg 1\.0 \(amd64\) Depends: /);
        assert.ok(e.message.includes(fragment), e.message);
        return true;
      },
    );
  });
}
