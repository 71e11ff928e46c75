import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPithError, parseDeb822 } from 'pith';

test('paragraphs, continuation lines, comments and case-insensitive names', () => {
  const text = [
    '# a comment before the first paragraph',
    'Package: hello',
    'VERSION: 2.10-3',
    'Description: example package',
    ' A longer description',
    ' .',
    ' spanning lines.',
    '',
    '',
    'Package: world',
    '# comment inside a paragraph',
    'Depends: libc6 (>= 2.34),',
    '\tlibfoo',
    '',
  ].join('\n');
  const stanzas = parseDeb822(text);
  assert.equal(stanzas.length, 2);
  assert.equal(stanzas[0]!.fields['version'], '2.10-3');
  assert.equal(stanzas[0]!.fields['description'], 'example package\nA longer description\n.\nspanning lines.');
  assert.equal(stanzas[0]!.line, 2);
  assert.equal(stanzas[1]!.fields['depends'], 'libc6 (>= 2.34),\nlibfoo');
  assert.equal(stanzas[1]!.line, 10);
});

test('CRLF line endings, a byte-order mark, no trailing newline, whitespace-only separator lines', () => {
  const stanzas = parseDeb822('\ufeffA: 1\r\nB:  two  \r\n \r\nA: 3');
  assert.deepEqual(stanzas.map((s) => ({ ...s.fields })), [{ a: '1', b: 'two' }, { a: '3' }]);
});

test('malformed lines are errors naming file:line', () => {
  assert.throws(
    () => parseDeb822('Package: a\nthis is not a field\n', { source: 'x/Packages' }),
    (e) => isPithError(e, 'DEB822_SYNTAX') && /x\/Packages:2: expected a "Field: value" line/.test(e.message),
  );
  assert.throws(
    () => parseDeb822(' leading continuation\n', { source: 's' }),
    (e) => isPithError(e, 'DEB822_SYNTAX') && /s:1:/.test(e.message),
  );
  assert.throws(
    () => parseDeb822('Package: a\npackage: b\n', { source: 's' }),
    (e) => isPithError(e, 'DEB822_SYNTAX') && /s:2: field "package" appears twice/.test(e.message),
  );
});

test('only: returns just the named fields, skipping the others and their continuation lines', () => {
  const text = 'Package: hello\nDescription: example\n multi-line\n .\nDEPENDS: libc6\n\nPackage: world\nTag: a,\n b\n';
  const stanzas = parseDeb822(text, { only: new Set(['package', 'depends']) });
  assert.deepEqual(stanzas.map((s) => ({ ...s.fields })), [{ package: 'hello', depends: 'libc6' }, { package: 'world' }]);
  assert.deepEqual(stanzas.map((s) => s.line), [1, 7]);
  // What is skipped is still a line of the format: structure errors are found all the same.
  assert.throws(() => parseDeb822('Package: a\nnot a field\n', { source: 's', only: new Set(['package']) }), (e) => isPithError(e, 'DEB822_SYNTAX') && /s:2:/.test(e.message));
});
