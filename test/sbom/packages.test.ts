import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPithError } from '../../src/errors.ts';
import { debPurl } from '../../src/sbom/inventory.ts';
import { parseDebPurl, sbomPackages } from '../../src/sbom/packages.ts';

/** A source of another name, a binNMU (binary version ≠ source version), both at once, and a plain package. */
const PACKAGES = [
  { name: 'bash', version: '5.2.15-2+b2', architecture: 'amd64', source: 'bash', sourceVersion: '5.2.15-2' },
  { name: 'libfoo1', version: '1.0-1+deb12u1', architecture: 'amd64', source: 'foo', sourceVersion: '1.0-1+deb12u1' },
  { name: 'libgcc-s1', version: '12.2.0-14+b1', architecture: 'amd64', source: 'gcc-12', sourceVersion: '12.2.0-14' },
  { name: 'tzdata', version: '2024a-0+deb12u1', architecture: 'all', source: 'tzdata', sourceVersion: '2024a-0+deb12u1' },
];
const purls = PACKAGES.map((p) => debPurl(p, { id: 'debian', versionId: '12' }));

describe('the Debian packages of an SBOM, read back from the purls pith writes', () => {
  it('every purl debPurl writes reads back as the package it was written from', () => {
    assert.deepEqual(purls.map((p) => { const { distro, ...rest } = parseDebPurl(p)!; return [rest, distro]; }), PACKAGES.map((p) => [p, 'debian-12']));
    assert.equal(parseDebPurl('pkg:oci/web@sha256%3Aab?arch=amd64'), undefined, 'the image itself is no Debian package');
    assert.equal(parseDebPurl('not a purl'), undefined);
  });

  it('SPDX (externalRefs) and CycloneDX (components) give the same packages and the release', () => {
    const spdx = {
      spdxVersion: 'SPDX-2.3',
      packages: [
        { name: 'web', externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: 'pkg:oci/web@sha256%3Aab' }] },
        { name: 'debian' },
        ...PACKAGES.map((p, i) => ({ name: p.name, externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: purls[i] }] })),
      ],
    };
    const cyclonedx = { bomFormat: 'CycloneDX', components: [{ type: 'operating-system', name: 'debian' }, ...purls.map((purl) => ({ type: 'library', purl }))] };
    for (const doc of [spdx, cyclonedx]) {
      assert.deepEqual(sbomPackages(JSON.stringify(doc), 'sbom.json'), { packages: PACKAGES, release: { ecosystem: 'Debian:12', codename: 'bookworm' } });
    }
  });

  it('without a distro in the purls (os-release without VERSION_ID), base-files\' version names the release', () => {
    const noDistro = [{ name: 'base-files', version: '13.8', architecture: 'amd64', source: 'base-files', sourceVersion: '13.8' }].map((p) => debPurl(p, { id: 'debian' }));
    assert.deepEqual(sbomPackages(JSON.stringify({ components: noDistro.map((purl) => ({ purl })) }), 'x').release, { ecosystem: 'Debian:13', codename: 'trixie' });
  });

  it('a document that is neither: SBOM_UNREADABLE naming it', () => {
    assert.throws(() => sbomPackages('{"spdx', 'the SBOM of web'), (e) => isPithError(e, 'SBOM_UNREADABLE') && /^the SBOM of web: expected an SPDX or CycloneDX JSON document/.test(e.message));
    assert.throws(() => sbomPackages('{"bom": []}', 'the SBOM of web'), (e) => isPithError(e, 'SBOM_UNREADABLE') && /found neither/.test(e.message));
  });
});
