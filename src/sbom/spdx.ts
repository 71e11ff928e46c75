/**
 * SPDX 2.3 JSON, written here: one document per platform image. The document DESCRIBES the image (a CONTAINER
 * package named by its manifest digest); the image CONTAINS the operating system, every Debian package and a
 * package of the spec's own files; packages DEPENDS_ON what met their Depends. Each Debian package carries its
 * name, version, supplier (Maintainer), the .deb's SHA256, its declared licence (DEP-5 copyright or
 * NOASSERTION) and its purl. Deterministic: the same image gives the same bytes (created is the image's own time,
 * the namespace a UUID derived from the manifest digest and platform).
 */
import { createHash } from 'node:crypto';
import { digestHex } from '../oci/digest.ts';
import { NOASSERTION } from './copyright.ts';
import { documentUuid, imagePurl, platformOf, type ImageInventory } from './inventory.ts';
import { PITH_VERSION } from '../version.ts';

export const SPDX_MEDIA_TYPE = 'application/spdx+json';
const TOOL = `Tool: pith-${PITH_VERSION}`;

interface SpdxPackage {
  SPDXID: string;
  name: string;
  versionInfo?: string;
  supplier?: string;
  downloadLocation: string;
  packageFileName?: string;
  filesAnalyzed: boolean;
  hasFiles?: string[];
  packageVerificationCode?: { packageVerificationCodeValue: string };
  checksums?: Array<{ algorithm: string; checksumValue: string }>;
  homepage?: string;
  sourceInfo?: string;
  licenseConcluded: string;
  licenseDeclared: string;
  licenseInfoFromFiles?: string[];
  licenseComments?: string;
  copyrightText: string;
  summary?: string;
  primaryPackagePurpose?: string;
  externalRefs?: Array<{ referenceCategory: string; referenceType: string; referenceLocator: string }>;
}

export interface SpdxDocument {
  spdxVersion: 'SPDX-2.3';
  dataLicense: 'CC0-1.0';
  SPDXID: 'SPDXRef-DOCUMENT';
  name: string;
  documentNamespace: string;
  creationInfo: { created: string; creators: string[] };
  packages: SpdxPackage[];
  files?: Array<{ SPDXID: string; fileName: string; checksums: Array<{ algorithm: string; checksumValue: string }>; licenseConcluded: string; copyrightText: string; comment?: string }>;
  hasExtractedLicensingInfos?: Array<{ licenseId: string; name: string; extractedText: string }>;
  relationships: Array<{ spdxElementId: string; relationshipType: string; relatedSpdxElement: string }>;
}

/** `[A-Za-z0-9.-]` only, as SPDX identifiers must be. */
function idPart(s: string): string {
  return s.replace(/[^A-Za-z0-9.-]+/g, '-');
}

/** "Name <email>" (a Maintainer field) in SPDX's agent syntax, "Person: Name (email)". */
export function spdxAgent(maintainer: string | undefined): string {
  if (!maintainer) return NOASSERTION;
  const m = /^\s*(.*?)\s*<([^>]*)>\s*$/.exec(maintainer);
  return m ? `Person: ${m[1] || m[2]} (${m[2]})` : `Person: ${maintainer.trim()}`;
}

export function spdxDocument(inv: ImageInventory): SpdxDocument {
  const imageId = 'SPDXRef-Image';
  const platform = platformOf(inv);
  const packages: SpdxPackage[] = [];
  const relationships: SpdxDocument['relationships'] = [{ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: imageId }];
  packages.push({
    SPDXID: imageId,
    name: inv.name,
    versionInfo: inv.digest,
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    checksums: [{ algorithm: 'SHA256', checksumValue: digestHex(inv.digest) }],
    licenseConcluded: NOASSERTION,
    licenseDeclared: NOASSERTION,
    copyrightText: NOASSERTION,
    summary: `OCI image ${inv.digest} for ${platform}`,
    primaryPackagePurpose: 'CONTAINER',
    externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: imagePurl(inv) }],
  });
  if (inv.os.id) {
    const osId = 'SPDXRef-OperatingSystem';
    packages.push({
      SPDXID: osId,
      name: inv.os.id,
      ...(inv.os.versionId ? { versionInfo: inv.os.versionId } : {}),
      downloadLocation: NOASSERTION,
      filesAnalyzed: false,
      licenseConcluded: NOASSERTION,
      licenseDeclared: NOASSERTION,
      copyrightText: NOASSERTION,
      ...(inv.os.prettyName ? { summary: inv.os.prettyName } : {}),
      primaryPackagePurpose: 'OPERATING_SYSTEM',
    });
    relationships.push({ spdxElementId: imageId, relationshipType: 'CONTAINS', relatedSpdxElement: osId });
  }
  const ids = new Map<string, string>();
  const used = new Set<string>();
  for (const p of inv.packages) {
    let id = `SPDXRef-Package-deb-${idPart(p.name)}-${idPart(p.architecture)}`;
    for (let n = 2; used.has(id); n++) id = `SPDXRef-Package-deb-${idPart(p.name)}-${idPart(p.architecture)}-${n}`;
    used.add(id);
    ids.set(p.name, id);
  }
  const extracted = new Map<string, { licenseId: string; name: string; extractedText: string }>();
  for (const p of inv.packages) {
    const id = ids.get(p.name)!;
    for (const e of p.license.extracted) if (!extracted.has(e.id)) extracted.set(e.id, { licenseId: e.id, name: e.name, extractedText: e.text });
    packages.push({
      SPDXID: id,
      name: p.name,
      versionInfo: p.version,
      supplier: spdxAgent(p.maintainer),
      downloadLocation: NOASSERTION,
      ...(p.deb?.filename ? { packageFileName: p.deb.filename.slice(p.deb.filename.lastIndexOf('/') + 1) } : {}),
      filesAnalyzed: false,
      ...(p.deb ? { checksums: [{ algorithm: 'SHA256', checksumValue: p.deb.sha256 }] } : {}),
      ...(p.homepage ? { homepage: p.homepage } : {}),
      sourceInfo: `built from the Debian source package ${p.source} ${p.sourceVersion}`,
      licenseConcluded: NOASSERTION,
      licenseDeclared: p.license.expression,
      ...(p.license.reason ? { licenseComments: `NOASSERTION: /usr/share/doc/${p.name}/copyright: ${p.license.reason}` } : {}),
      copyrightText: NOASSERTION,
      ...(p.summary ? { summary: p.summary } : {}),
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: p.purl }],
    });
    relationships.push({ spdxElementId: imageId, relationshipType: 'CONTAINS', relatedSpdxElement: id });
  }
  for (const p of inv.packages) {
    for (const dep of p.dependsOn) relationships.push({ spdxElementId: ids.get(p.name)!, relationshipType: 'DEPENDS_ON', relatedSpdxElement: ids.get(dep)! });
  }
  const files: NonNullable<SpdxDocument['files']> = [];
  if (inv.specFiles.length > 0) {
    const appId = 'SPDXRef-Package-spec-files';
    const fileIds = inv.specFiles.map((f) => `SPDXRef-File-${idPart(f.path.slice(1))}-${f.sha256.slice(0, 12)}`);
    // SPDX 2.3 §7.9: the SHA1 of the sorted SHA1s of the package's files.
    const code = createHash('sha1').update(inv.specFiles.map((f) => f.sha1).sort().join('')).digest('hex');
    packages.push({
      SPDXID: appId,
      name: `${inv.name}: files from the spec`,
      downloadLocation: NOASSERTION,
      filesAnalyzed: true,
      hasFiles: fileIds,
      packageVerificationCode: { packageVerificationCodeValue: code },
      licenseConcluded: NOASSERTION,
      licenseDeclared: NOASSERTION,
      licenseInfoFromFiles: [NOASSERTION],
      copyrightText: NOASSERTION,
      summary: "the files the image's spec added (files:), not from any Debian package",
      primaryPackagePurpose: 'FILE',
    });
    relationships.push({ spdxElementId: imageId, relationshipType: 'CONTAINS', relatedSpdxElement: appId });
    for (const [i, f] of inv.specFiles.entries()) {
      files.push({
        SPDXID: fileIds[i]!,
        fileName: `.${f.path}`,
        checksums: [{ algorithm: 'SHA1', checksumValue: f.sha1 }, { algorithm: 'SHA256', checksumValue: f.sha256 }],
        licenseConcluded: NOASSERTION,
        copyrightText: NOASSERTION,
        comment: `mode ${(f.mode & 0o7777).toString(8).padStart(4, '0')}, ${f.size} bytes, added by the spec's files:`,
      });
    }
  }
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${inv.name} ${platform}`,
    documentNamespace: `urn:uuid:${documentUuid(inv, 'spdx')}`,
    creationInfo: { created: inv.created, creators: [TOOL] },
    packages,
    ...(files.length ? { files } : {}),
    ...(extracted.size ? { hasExtractedLicensingInfos: [...extracted.values()].sort((a, b) => (a.licenseId < b.licenseId ? -1 : 1)) } : {}),
    relationships,
  };
}

/** The document as pith writes it: 2-space JSON with a trailing newline. */
export function spdxJson(inv: ImageInventory): string {
  return `${JSON.stringify(spdxDocument(inv), null, 2)}\n`;
}
