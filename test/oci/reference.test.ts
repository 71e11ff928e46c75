/** Image references normalised as docker normalises them (distribution/reference's normalize.go cases). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_DOMAIN, formatReference, parseReference } from '../../src/oci/reference.ts';
import { isPithError } from '../../src/errors.ts';

const D = `sha256:${'ab'.repeat(32)}`;

test('a name with no registry part is on the default registry; one component gets the official prefix', () => {
  assert.deepEqual(parseReference('debian'), { domain: DEFAULT_DOMAIN, path: 'library/debian', tag: 'latest' });
  assert.deepEqual(parseReference('team/app:1.0'), { domain: DEFAULT_DOMAIN, path: 'team/app', tag: '1.0' });
  assert.equal(formatReference(parseReference('debian:12')), `${DEFAULT_DOMAIN}/library/debian:12`);
});

test('the first component is a registry when it has a dot or a port, is localhost, or has capitals', () => {
  assert.deepEqual(parseReference('127.0.0.1:5000/team/app'), { domain: '127.0.0.1:5000', path: 'team/app', tag: 'latest' });
  assert.deepEqual(parseReference('localhost/app:v2'), { domain: 'localhost', path: 'app', tag: 'v2' });
  assert.deepEqual(parseReference('registry.example/app'), { domain: 'registry.example', path: 'app', tag: 'latest' });
  assert.deepEqual(parseReference('Host/app'), { domain: 'Host', path: 'app', tag: 'latest' });
  assert.deepEqual(parseReference('[::1]:5000/app'), { domain: '[::1]:5000', path: 'app', tag: 'latest' });
});

test('a digest pins; with a tag both are kept; alone it means no tag', () => {
  assert.deepEqual(parseReference(`localhost:5000/app@${D}`), { domain: 'localhost:5000', path: 'app', digest: D });
  assert.deepEqual(parseReference(`localhost:5000/app:1@${D}`), { domain: 'localhost:5000', path: 'app', tag: '1', digest: D });
});

test('the legacy spelling of the default registry folds into it', () => {
  assert.deepEqual(parseReference('index.docker.io/debian'), parseReference('debian'));
});

test('malformed references are refused, saying why', () => {
  for (const [text, why] of [
    ['Team/App', /lower-case/],
    ['localhost:5000/App', /lower-case/],
    ['app:-bad', /tag/],
    ['app@sha256:abc', /sha256 digest/],
    ['a//b', /repository path/],
    ['', /repository path/],
  ] as const) {
    assert.throws(() => parseReference(text, '--ref'), (e) => isPithError(e, 'OCI_BAD_REFERENCE') && why.test(e.message) && e.message.includes('--ref'), text);
  }
});
