import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdvisoryIndex, affects, isPithError, parseOsv, parseTracker } from 'pith';

const osvRecord = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    id: 'DEBIAN-CVE-2026-1111',
    aliases: ['CVE-2026-1111'],
    affected: [
      {
        package: { ecosystem: 'Debian:12', name: 'foo' },
        ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.0-1+deb12u2' }] }],
        ecosystem_specific: { urgency: 'high' },
      },
      { package: { ecosystem: 'Debian:11', name: 'foo' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '0.9-1+deb11u1' }] }] },
    ],
    ...over,
  });

describe('OSV records', () => {
  it('keep the affected entries of the image ecosystem, named by their CVE alias, with ranges in dpkg order', () => {
    const { advisories, skipped } = parseOsv(osvRecord(), 'osv/foo.json', 'Debian:12');
    assert.equal(skipped, 0);
    assert.equal(advisories.length, 1);
    const [a] = advisories;
    assert.deepEqual([a!.id, a!.source, a!.fixed, a!.severity, a!.feed], ['CVE-2026-1111', 'foo', '1.0-1+deb12u2', 'high', 'osv']);
    assert.ok(affects(a!, '1.0-1+deb12u1'));
    assert.ok(!affects(a!, '1:0.1-1'), 'an epoch sorts above every epoch-less fixed version');
    assert.ok(!affects(a!, '1.0-1+deb12u2'), 'the fixed version is not affected');
    assert.ok(!affects(a!, '1.0-1+deb12u10'), 'dpkg order, not string order: u10 > u2');
    assert.ok(affects(a!, '1.0~rc1-1'), '~ sorts before the release');
  });

  it('a record for another release only is skipped, not an error', () => {
    const other = parseOsv(osvRecord(), 'x.json', 'Debian:13');
    assert.deepEqual([other.advisories.length, other.skipped], [0, 1]);
  });

  it('versions lists and last_affected events', () => {
    const text = osvRecord({
      id: 'OSV-1', aliases: [],
      affected: [{ package: { ecosystem: 'Debian:12', name: 'bar' }, versions: ['2.0-3'], ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '1.0-1' }, { last_affected: '1.5-2' }] }] }],
    });
    const [a] = parseOsv(text, 'x.json', 'Debian:12').advisories;
    assert.equal(a!.id, 'OSV-1');
    assert.deepEqual(['0.9-1', '1.0-1', '1.5-2', '1.5-3', '2.0-3'].map((v) => affects(a!, v)), [false, true, true, false, true]);
  });

  it('malformed input is an error naming the file, the record id and the JSON path', () => {
    const cases: Array<[string, RegExp]> = [
      ['{not json', /^broken\.json: expected JSON/],
      [JSON.stringify({ aliases: [] }), /broken\.json: expected an OSV record with a string "id"/],
      [osvRecord({ affected: 'foo' }), /broken\.json \(DEBIAN-CVE-2026-1111\): expected "affected" to be an array/],
      [osvRecord({ affected: [{ package: { ecosystem: 'Debian:12', name: 'foo' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: 0 }] }] }] }), /\(DEBIAN-CVE-2026-1111\) affected\[0\]\.ranges\[0\]\.events\[0\]: expected one of introduced/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => parseOsv(text, 'broken.json', 'Debian:12'), (e: unknown) => isPithError(e, 'ADVISORY_INVALID') && message.test(e.message));
    }
  });
});

describe('Debian Security Tracker JSON', () => {
  const tracker = {
    foo: { 'CVE-2026-1111': { releases: { bookworm: { status: 'resolved', fixed_version: '1.0-1+deb12u2', urgency: 'high' }, trixie: { status: 'resolved', fixed_version: '1.1-1' } } } },
    glibc: { 'CVE-2026-2222': { releases: { bookworm: { status: 'resolved', fixed_version: '0', urgency: 'unimportant' } } } },
    bar: { 'CVE-2026-3333': { releases: { bookworm: { status: 'open', urgency: 'low' } } } },
  };

  it('reads source → CVE → releases.<codename>; fixed_version "0" means not affected; open without a fix affects every version', () => {
    const { advisories, skipped } = parseTracker(JSON.stringify(tracker), 'tracker.json', 'bookworm');
    assert.equal(skipped, 1);
    const index = new AdvisoryIndex(advisories);
    assert.deepEqual(index.affecting('foo', '1.0-1+deb12u1').map((a) => [a.id, a.fixed, a.severity]), [['CVE-2026-1111', '1.0-1+deb12u2', 'high']]);
    assert.deepEqual(index.affecting('foo', '1.0-1+deb12u2'), []);
    assert.deepEqual(index.affecting('glibc', '2.36-9'), []);
    assert.deepEqual(index.affecting('bar', '99').map((a) => a.id), ['CVE-2026-3333']);
  });

  it('malformed entries are named by their path', () => {
    const bad = { foo: { 'CVE-2026-1111': { releases: { bookworm: { status: 'resolved', fixed_version: 12 } } } } };
    assert.throws(() => parseTracker(JSON.stringify(bad), 't.json', 'bookworm'), /t\.json foo\.CVE-2026-1111\.releases\.bookworm\.fixed_version: expected a string, found number/);
    assert.throws(() => parseTracker('[1]', 't.json', 'bookworm'), /t\.json: expected an object of source packages/);
  });
});
