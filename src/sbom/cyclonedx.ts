/**
 * CycloneDX 1.6 JSON through @cyclonedx/cyclonedx-library: the image is the metadata component (a container named
 * by its manifest digest); the components are the operating system, every Debian package (same purls, .deb
 * SHA-256, declared licence, Maintainer as supplier, source package as properties) and the spec's own files; the
 * dependency graph is the image over everything it holds and each package over what met its Depends.
 * Deterministic like the SPDX writer: timestamp from the image, serial number derived from its digest.
 */
import { Enums, Models, Serialize, Spec } from '@cyclonedx/cyclonedx-library';
import { digestHex } from '../oci/digest.ts';
import { NOASSERTION } from './copyright.ts';
import { documentUuid, imagePurl, type ImageInventory, type InventoryPackage } from './inventory.ts';
import { PITH_VERSION } from '../version.ts';

export const CYCLONEDX_MEDIA_TYPE = 'application/vnd.cyclonedx+json';

function licenses(p: InventoryPackage): Models.LicenseRepository {
  const repo = new Models.LicenseRepository();
  const e = p.license.expression;
  if (e === NOASSERTION) return repo;
  if (/^[A-Za-z0-9.+-]+$/.test(e) && !e.startsWith('LicenseRef-')) repo.add(new Models.SpdxLicense(e as never));
  else repo.add(new Models.LicenseExpression(e));
  return repo;
}

/** "Name <email>" → an organizational entity with the name and the address as a contact. */
function supplier(maintainer: string | undefined): Models.OrganizationalEntity | undefined {
  if (!maintainer) return undefined;
  const m = /^\s*(.*?)\s*<([^>]*)>\s*$/.exec(maintainer);
  const name = m ? m[1] || m[2]! : maintainer.trim();
  const contact = m ? new Models.OrganizationalContactRepository([new Models.OrganizationalContact({ name, email: m[2]! })]) : undefined;
  return new Models.OrganizationalEntity({ name, ...(contact ? { contact } : {}) });
}

export function cyclonedxBom(inv: ImageInventory): Models.Bom {
  const image = new Models.Component(Enums.ComponentType.Container, inv.name, {
    bomRef: `image:${inv.digest}`,
    version: inv.digest,
    purl: imagePurl(inv),
    hashes: new Models.HashDictionary([[Enums.HashAlgorithm['SHA-256'], digestHex(inv.digest)]]),
    description: `OCI image ${inv.digest} for ${inv.platform.os}/${inv.platform.architecture}${inv.platform.variant ? `/${inv.platform.variant}` : ''}`,
  });
  const tool = new Models.Component(Enums.ComponentType.Application, 'pith', { version: PITH_VERSION });
  const bom = new Models.Bom({
    serialNumber: `urn:uuid:${documentUuid(inv, 'cyclonedx')}`,
    metadata: new Models.Metadata({
      timestamp: new Date(inv.created),
      component: image,
      tools: new Models.Tools({ components: new Models.ComponentRepository([tool]) }),
    }),
  });
  const held: Models.BomRef[] = [];
  if (inv.os.id) {
    const os = new Models.Component(Enums.ComponentType.OperatingSystem, inv.os.id, {
      bomRef: `os:${inv.os.id}@${inv.os.versionId ?? ''}`,
      ...(inv.os.versionId ? { version: inv.os.versionId } : {}),
      ...(inv.os.prettyName ? { description: inv.os.prettyName } : {}),
    });
    bom.components.add(os);
    held.push(os.bomRef);
  }
  const byName = new Map<string, Models.Component>();
  for (const p of inv.packages) {
    const c = new Models.Component(Enums.ComponentType.Library, p.name, {
      bomRef: p.purl,
      version: p.version,
      purl: p.purl,
      licenses: licenses(p),
      ...(p.deb ? { hashes: new Models.HashDictionary([[Enums.HashAlgorithm['SHA-256'], p.deb.sha256]]) } : {}),
      ...(supplier(p.maintainer) ? { supplier: supplier(p.maintainer)! } : {}),
      ...(p.summary ? { description: p.summary } : {}),
      properties: new Models.PropertyRepository([
        new Models.Property('pith:debian:source', p.source),
        new Models.Property('pith:debian:source-version', p.sourceVersion),
        ...(p.deb?.filename ? [new Models.Property('pith:debian:filename', p.deb.filename)] : []),
      ]),
    });
    bom.components.add(c);
    byName.set(p.name, c);
    held.push(c.bomRef);
  }
  for (const p of inv.packages) {
    for (const dep of p.dependsOn) byName.get(p.name)!.dependencies.add(byName.get(dep)!.bomRef);
  }
  for (const f of inv.specFiles) {
    const c = new Models.Component(Enums.ComponentType.File, f.path, {
      bomRef: `file:${f.path}`,
      hashes: new Models.HashDictionary([
        [Enums.HashAlgorithm['SHA-1'], f.sha1],
        [Enums.HashAlgorithm['SHA-256'], f.sha256],
      ]),
      description: "added by the image's spec (files:)",
    });
    bom.components.add(c);
    held.push(c.bomRef);
  }
  for (const ref of held) image.dependencies.add(ref);
  return bom;
}

/** The BOM as CycloneDX 1.6 JSON, lists sorted, 2-space indented, with a trailing newline. */
export function cyclonedxJson(inv: ImageInventory): string {
  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6));
  return `${serializer.serialize(cyclonedxBom(inv), { sortLists: true, space: 2 })}\n`;
}
