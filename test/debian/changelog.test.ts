import assert from 'node:assert/strict';
import { it } from 'node:test';
import { entriesBetween, parseChangelog } from 'pith';
import { changelogText } from '../fixtures/archive.ts';

it('a changelog is read into entries with their urgency and CVEs; entries between two versions are those after the first up to the second', () => {
  const text = changelogText('foo', [
    { version: '1.0-1+deb12u3', distribution: 'bookworm-security', urgency: 'high', changes: ['Fix CVE-2026-1111 and CVE-2026-1112: heap overflow in parse()'] },
    { version: '1.0-1+deb12u2', distribution: 'bookworm', urgency: 'low', changes: ['Non-security fix.'] },
    { version: '1.0-1+deb12u1', distribution: 'bookworm-security', urgency: 'medium', changes: ['Fix CVE-2025-0001'] },
    { version: '1.0-1', changes: ['Initial release.'] },
  ]);
  const entries = parseChangelog(text);
  assert.deepEqual(entries.map((e) => [e.version, e.urgency, e.distribution]), [
    ['1.0-1+deb12u3', 'high', 'bookworm-security'],
    ['1.0-1+deb12u2', 'low', 'bookworm'],
    ['1.0-1+deb12u1', 'medium', 'bookworm-security'],
    ['1.0-1', 'medium', 'bookworm'],
  ]);
  assert.deepEqual(entries[0]!.cves, ['CVE-2026-1111', 'CVE-2026-1112']);
  assert.equal(entries[0]!.date, 'Wed, 01 Jan 2025 00:00:00 +0000');
  assert.deepEqual(entriesBetween(entries, '1.0-1+deb12u1', '1.0-1+deb12u3').map((e) => e.version), ['1.0-1+deb12u3', '1.0-1+deb12u2']);
});
