/**
 * CycloneDX 1.6: the python example (built from the real archive, read back from its layout) as a BOM made with
 * @cyclonedx/cyclonedx-library, validated by the library's strict 1.6 JSON schema validator; the same purls,
 * checksums, licences and dependency graph as the SPDX document, with the image as the metadata component.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { readImage } from '../../src/transports/transports.ts';
import { selectPlatform } from '../../src/oci/read.ts';
import { cyclonedxJson } from '../../src/sbom/cyclonedx.ts';
import { imageInventory, type ImageInventory } from '../../src/sbom/inventory.ts';
import { spdxDocument } from '../../src/sbom/spdx.ts';
import { buildExample, type BuiltExample } from '../fixtures/examples.ts';
import { liveArchiveProblem } from '../fixtures/live-archive.ts';

interface CdxComponent {
  type: string;
  name: string;
  version?: string;
  purl?: string;
  'bom-ref': string;
  hashes?: Array<{ alg: string; content: string }>;
  licenses?: Array<{ license?: { id?: string }; expression?: string }>;
  supplier?: { name: string };
  properties?: Array<{ name: string; value: string }>;
}

describe('CycloneDX 1.6 of the python example', { skip: await liveArchiveProblem() }, () => {
  const scratch = mkdtempSync(join(tmpdir(), 'pith-cyclonedx-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));
  let built: BuiltExample;
  let inv: ImageInventory;
  let bom: { metadata: { component: CdxComponent; timestamp: string }; components: CdxComponent[]; dependencies: Array<{ ref: string; dependsOn?: string[] }> };
  before(async () => {
    built = await buildExample(scratch, 'python');
    inv = await imageInventory(selectPlatform(await readImage(built.layout), 'linux/amd64'));
    bom = JSON.parse(cyclonedxJson(inv));
  });

  it('passes the library\'s strict CycloneDX 1.6 JSON validation', async () => {
    assert.equal(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(cyclonedxJson(inv)), null);
  });

  it('has the image as metadata component and every locked package with the SPDX document\'s purl, SHA-256 and licence', () => {
    assert.equal(bom.metadata.component.type, 'container');
    assert.equal(bom.metadata.component.version, inv.digest);
    assert.equal(bom.metadata.timestamp, `${inv.created.replace(/Z$/, '')}.000Z`);
    const spdx = spdxDocument(inv);
    for (const l of built.lock.architectures.amd64!.packages) {
      const c = bom.components.find((x) => x.name === l.name && x.type === 'library')!;
      const s = spdx.packages.find((p) => p.name === l.name)!;
      assert.equal(c.version, l.version);
      assert.equal(c.purl, s.externalRefs![0]!.referenceLocator, l.name);
      assert.deepEqual(c.hashes, [{ alg: 'SHA-256', content: l.sha256 }]);
      const licence = c.licenses?.[0]?.expression ?? c.licenses?.[0]?.license?.id ?? 'NOASSERTION';
      assert.equal(licence, s.licenseDeclared, l.name);
      assert.deepEqual(c.properties!.filter((p) => p.name.startsWith('pith:debian:source')).map((p) => p.value), [l.source, l.sourceVersion]);
    }
    assert.deepEqual(bom.components.filter((c) => c.type === 'operating-system').map((c) => [c.name, c.version]), [['debian', '12']]);
    assert.deepEqual(bom.components.filter((c) => c.type === 'file').map((c) => c.name), ['/app/app.py']);
  });

  it('has the dependency graph: the image over everything it holds, each package over what met its Depends', () => {
    const dependsOn = (ref: string) => bom.dependencies.find((d) => d.ref === ref)?.dependsOn ?? [];
    assert.deepEqual([...dependsOn(bom.metadata.component['bom-ref'])].sort(), bom.components.map((c) => c['bom-ref']).sort());
    const ref = (name: string) => bom.components.find((c) => c.name === name)!['bom-ref'];
    assert.ok(dependsOn(ref('libssl3')).includes(ref('libc6')));
    assert.ok(dependsOn(ref('python3-minimal')).length === 1);
  });
});
