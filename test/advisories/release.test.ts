import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { debianRelease, imageVulnerabilities, isPithError, lockRelease, osRelease, type LockFile } from 'pith';

const scratch = mkdtempSync(join(tmpdir(), 'pith-release-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('the Debian release advisories are matched for', () => {
  it('comes from a version, a codename, or both, each completing the other', () => {
    assert.deepEqual(debianRelease({ version: '12' }), { ecosystem: 'Debian:12', codename: 'bookworm' });
    assert.deepEqual(debianRelease({ version: '12.4+deb12u5' }), { ecosystem: 'Debian:12', codename: 'bookworm' }, "base-files' version");
    assert.deepEqual(debianRelease({ codename: 'trixie' }), { ecosystem: 'Debian:13', codename: 'trixie' });
    assert.deepEqual(debianRelease({ codename: 'sid' }), { ecosystem: 'Debian', codename: 'sid' }, 'sid has no number');
    assert.equal(debianRelease({}), undefined);
  });

  it("an image's os-release names it as a lock's base-files does; testing and sid have no VERSION_ID", () => {
    assert.deepEqual(osRelease({ versionId: '12', versionCodename: 'bookworm' }), { ecosystem: 'Debian:12', codename: 'bookworm' });
    assert.deepEqual(osRelease({ versionCodename: 'trixie', debianVersion: 'trixie/sid' }), { ecosystem: 'Debian:13', codename: 'trixie' });
    assert.deepEqual(osRelease({ debianVersion: 'trixie/sid' }), { ecosystem: 'Debian:13', codename: 'trixie' }, 'no os-release at all');
    assert.deepEqual(osRelease({ versionId: '11' }), { ecosystem: 'Debian:11', codename: 'bullseye' }, 'no VERSION_CODENAME');
    assert.deepEqual(osRelease({ debianVersion: '12.11' }), { ecosystem: 'Debian:12', codename: 'bookworm' });
    assert.equal(osRelease({ id: 'ubuntu', versionId: '22.04', versionCodename: 'jammy' }), undefined, "another distribution's numbers are not Debian's");
    const lock = { sources: [], architectures: { amd64: { packages: [{ name: 'base-files', version: '13.8' }] } } } as unknown as LockFile;
    assert.deepEqual(lockRelease(lock), osRelease({ versionCodename: 'trixie' }), 'pith check and pith debug agree');
  });

  it("pith debug's advisories match an image without VERSION_ID (Debian testing) for its release", async () => {
    const osv = join(scratch, 'osv.json');
    writeFileSync(osv, JSON.stringify({
      id: 'DEBIAN-CVE-2026-3333',
      aliases: ['CVE-2026-3333'],
      affected: [{ package: { ecosystem: 'Debian:13', name: 'foo' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.1-1' }] }] }],
    }));
    const tracker = join(scratch, 'tracker.json');
    writeFileSync(tracker, JSON.stringify({ foo: { 'CVE-2026-4444': { releases: { trixie: { status: 'open', urgency: 'low' } } } } }));
    const image = {
      os: { id: 'debian', versionCodename: 'trixie', prettyName: 'Debian GNU/Linux trixie/sid', debianVersion: 'trixie/sid' },
      packages: [{ name: 'libfoo1', version: '1.0-1', architecture: 'amd64', source: 'foo', sourceVersion: '1.0-1' }],
    };
    const found = await imageVulnerabilities(image, [osv, tracker], { cacheDir: join(scratch, 'cache') });
    assert.deepEqual(found.release, { ecosystem: 'Debian:13', codename: 'trixie' });
    assert.deepEqual(found.vulnerabilities.map((v) => [v.id, v.source, v.packages, v.feed]), [
      ['CVE-2026-3333', 'foo', ['libfoo1'], 'osv'],
      ['CVE-2026-4444', 'foo', ['libfoo1'], 'tracker'],
    ]);
    await assert.rejects(imageVulnerabilities({ os: {}, packages: image.packages }, [osv], { cacheDir: join(scratch, 'cache') }), (e) =>
      isPithError(e, 'DEBUG_UNKNOWN_RELEASE') && /expected the image's os-release .* to name a Debian release .*, found neither$/.test(e.message));
    await assert.rejects(imageVulnerabilities({ os: { id: 'alpine', versionId: '3.19.1' }, packages: [] }, [osv], { cacheDir: join(scratch, 'cache') }), (e) =>
      isPithError(e, 'DEBUG_UNKNOWN_RELEASE') && e.message.endsWith("found ID=alpine: Debian's advisories do not apply to it"));
  });
});
