/**
 * SPDX 2.3: the python example (built from the real archive, read back from its layout) as an SPDX document,
 * validated against the official SPDX 2.3 JSON schema (test/fixtures/spdx, vendored with its licence); and the
 * DEP-5 copyright reading behind licenseDeclared, down to NOASSERTION for what does not parse.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readImage } from '../../src/transports/transports.ts';
import { selectPlatform } from '../../src/oci/read.ts';
import { declaredLicense, dep5ToSpdx, NOASSERTION } from '../../src/sbom/copyright.ts';
import { imageInventory, type ImageInventory } from '../../src/sbom/inventory.ts';
import { spdxAgent, spdxDocument, spdxJson } from '../../src/sbom/spdx.ts';
import { buildExample, type BuiltExample } from '../fixtures/examples.ts';
import { liveArchiveProblem } from '../fixtures/live-archive.ts';

const require = createRequire(import.meta.url);
const Ajv = require('ajv') as typeof import('ajv').default;

/** The official schema, compiled once: every document a test makes goes through it. */
export function spdxSchemaErrors(doc: unknown): string[] {
  const schema = JSON.parse(readFileSync(new URL('../fixtures/spdx/spdx-schema-2.3.json', import.meta.url), 'utf8'));
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
  return validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}

const DEP5 = 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: x\n\n';

describe('licenseDeclared from DEP-5 copyright files', () => {
  it('maps Debian short names to SPDX, with the comma binding loosest and "and" tighter than "or"', () => {
    const refs = new Map<string, string>();
    assert.equal(dep5ToSpdx('GPL-2+', refs), 'GPL-2.0-or-later');
    assert.equal(dep5ToSpdx('GPL-2', refs), 'GPL-2.0-only');
    assert.equal(dep5ToSpdx('LGPL-2.1+ or Expat and Zlib', refs), 'LGPL-2.1-or-later OR (MIT AND Zlib)');
    assert.equal(dep5ToSpdx('GPL-2+ or Artistic, and BSD-3-clause', refs), '(GPL-2.0-or-later OR Artistic-1.0) AND BSD-3-Clause');
    assert.equal(dep5ToSpdx('public-domain', refs), 'LicenseRef-public-domain');
    assert.equal(dep5ToSpdx('GPL-3+ with OpenSSL exception', refs), 'LicenseRef-GPL-3-with-OpenSSL-exception');
    assert.deepEqual([...refs.keys()], ['LicenseRef-public-domain', 'LicenseRef-GPL-3-with-OpenSSL-exception']);
  });

  it('joins every Files paragraph\'s licence with AND and keeps the texts of LicenseRefs', () => {
    const text = `${DEP5}Files: *\nCopyright: 2020 A\nLicense: MPL-2.0\n\nFiles: lib/*\nCopyright: 2021 B\nLicense: GPL-2+ or Apache-2.0\n\nFiles: doc/*\nCopyright: C\nLicense: Custom-1\n\nLicense: Custom-1\n Permission is granted.\n .\n Really.\n`;
    const d = declaredLicense(text);
    assert.equal(d.expression, 'MPL-2.0 AND (GPL-2.0-or-later OR Apache-2.0) AND LicenseRef-Custom-1');
    assert.deepEqual(d.extracted, [{ id: 'LicenseRef-Custom-1', name: 'Custom-1', text: 'Permission is granted.\n\nReally.' }]);
  });

  it('gives NOASSERTION, never a crash, for what is not DEP-5 or does not parse', () => {
    for (const [text, reason] of [
      [undefined, /no copyright file/],
      ['This package was debianized by someone.\n\nIt is GPL.\n', /not machine-readable/],
      [`${DEP5}Files: *\nLicense: GPL-2+ or\n`, /unparsable/],
      [`${DEP5}Files: *\nLicense: GPL-2+, but not really\n`, /unparsable/],
      [`${DEP5}Files: *\nLicense: GPL-2+\nLicense: MIT\n`, /not deb822/],
      [`${DEP5}Files: *\nCopyright: nobody\n`, /no License/],
      ['\u0000\u0001\u00ff binary \n\n\n garbage', /not machine-readable/],
      [`${DEP5}Files: *\n broken continuation first\nLicense: MIT\n`.replace('Files: *\n', ''), /not deb822/],
    ] as const) {
      const d = declaredLicense(text);
      assert.equal(d.expression, NOASSERTION, String(text));
      assert.match(d.reason!, reason, String(text));
    }
  });

  it('writes a Maintainer field in SPDX agent syntax', () => {
    assert.equal(spdxAgent('GNU Libc Maintainers <debian-glibc@lists.debian.org>'), 'Person: GNU Libc Maintainers (debian-glibc@lists.debian.org)');
    assert.equal(spdxAgent(undefined), NOASSERTION);
  });
});

describe('SPDX 2.3 of the python example', { skip: await liveArchiveProblem() }, () => {
  const scratch = mkdtempSync(join(tmpdir(), 'pith-spdx-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));
  let built: BuiltExample;
  let inv: ImageInventory;
  before(async () => {
    built = await buildExample(scratch, 'python');
    inv = await imageInventory(selectPlatform(await readImage(built.layout), 'linux/amd64'));
  });

  it('is valid against the official SPDX 2.3 JSON schema', () => {
    assert.deepEqual(spdxSchemaErrors(JSON.parse(spdxJson(inv))), []);
  });

  it('describes the image, which contains every locked package with version, supplier, .deb SHA256 and purl', () => {
    const doc = spdxDocument(inv);
    assert.equal(doc.spdxVersion, 'SPDX-2.3');
    assert.equal(doc.creationInfo.created, inv.image.config.created);
    assert.deepEqual(doc.relationships[0], { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: 'SPDXRef-Image' });
    const image = doc.packages.find((p) => p.SPDXID === 'SPDXRef-Image')!;
    assert.equal(image.versionInfo, inv.digest);
    const contained = new Set(doc.relationships.filter((r) => r.spdxElementId === 'SPDXRef-Image' && r.relationshipType === 'CONTAINS').map((r) => r.relatedSpdxElement));
    for (const l of built.lock.architectures.amd64!.packages) {
      const p = doc.packages.find((q) => q.name === l.name)!;
      assert.ok(p, l.name);
      assert.ok(contained.has(p.SPDXID), `${l.name} is contained in the image`);
      assert.equal(p.versionInfo, l.version);
      assert.deepEqual(p.checksums, [{ algorithm: 'SHA256', checksumValue: l.sha256 }]);
      assert.match(p.supplier!, /^Person: .+ \(.+@.+\)$/);
      const upstream = l.source !== l.name ? `&upstream=${l.sourceVersion !== l.version ? `${l.source}%40${l.sourceVersion}` : l.source}` : l.sourceVersion !== l.version ? `&upstream=${l.source}%40${l.sourceVersion}` : '';
      assert.equal(p.externalRefs![0]!.referenceLocator, `pkg:deb/debian/${l.name}@${l.version}?arch=${l.architecture}&distro=debian-12${upstream}`);
    }
    const zlib = doc.packages.find((p) => p.name === 'zlib1g')!;
    assert.equal(zlib.licenseDeclared, 'Zlib', 'zlib1g\'s copyright is DEP-5');
    assert.equal(doc.packages.find((p) => p.name === 'libexpat1')!.licenseDeclared, 'MIT');
    const libc = doc.packages.find((p) => p.name === 'libc6')!;
    assert.equal(libc.licenseDeclared, NOASSERTION, 'glibc\'s copyright is not machine-readable');
    assert.match(libc.licenseComments!, /not machine-readable/);
  });

  it('has DEPENDS_ON edges from the packages\' Depends, and the spec\'s own files with their SHA256', () => {
    const doc = spdxDocument(inv);
    const id = (name: string) => doc.packages.find((p) => p.name === name)!.SPDXID;
    const deps = (name: string) => doc.relationships.filter((r) => r.spdxElementId === id(name) && r.relationshipType === 'DEPENDS_ON').map((r) => doc.packages.find((p) => p.SPDXID === r.relatedSpdxElement)!.name);
    const python = built.lock.architectures.amd64!.packages.find((p) => /^python3\.\d+-minimal$/.test(p.name))!.name;
    assert.deepEqual(deps('python3-minimal'), [python]);
    assert.ok(deps(python).includes('libc6') && deps(python).includes(`lib${python}`), deps(python).join(' '));
    const app = readFileSync(join(built.dir, 'app.py'));
    assert.deepEqual(doc.files!.map((f) => [f.fileName, f.checksums.find((c) => c.algorithm === 'SHA256')!.checksumValue]), [['./app/app.py', createHash('sha256').update(app).digest('hex')]]);
    const files = doc.packages.find((p) => p.SPDXID === 'SPDXRef-Package-spec-files')!;
    assert.deepEqual(files.hasFiles, doc.files!.map((f) => f.SPDXID));
  });

  it('is the same bytes every time for the same image', async () => {
    const again = await imageInventory(selectPlatform(await readImage(built.layout), 'linux/amd64'));
    assert.equal(spdxJson(again), spdxJson(inv));
  });
});
