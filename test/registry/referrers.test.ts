/**
 * Referrers: an SBOM attached to a pushed image, found again from the image. The packaged registry predates the
 * referrers API, so against it pith uses the spec's fallback tag (`sha256-<hex>`), which skopeo can read like any
 * index. The API path is checked through the proxy, which adds the two things an API-capable registry does — the
 * `OCI-Subject` header on the artifact's push, and the `GET /v2/<name>/referrers/<digest>` answer — while
 * everything else is stored by the real registry.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { canonicalJson } from '../../src/json.ts';
import { MediaType } from '../../src/oci/digest.ts';
import { pushImage } from '../../src/registry/push.ts';
import { artifactManifest, attachArtifact, fallbackTag, listReferrers, type Artifact, type ReferrerDescriptor } from '../../src/registry/referrers.ts';
import { FaultProxy, type Fault } from '../fixtures/fault-proxy.ts';
import { Registry, registryMissing } from '../fixtures/registry.ts';
import { assertRan, exec, runtimeMissing } from '../fixtures/runtimes.ts';
import { sampleImage } from './helpers.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-referrers-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const sbom = (name: string): Artifact => ({
  artifactType: 'application/spdx+json',
  blobs: [{ mediaType: 'application/spdx+json', bytes: new TextEncoder().encode(JSON.stringify({ spdxVersion: 'SPDX-2.3', name })) }],
  annotations: { 'org.opencontainers.image.created': '2023-11-14T22:13:20Z' },
});
const signature: Artifact = { artifactType: 'application/vnd.example.signature', blobs: [{ mediaType: 'application/octet-stream', bytes: new Uint8Array([1, 2, 3]) }] };

async function tagStatus(registry: Registry, repo: string, tag: string): Promise<number> {
  return (await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: MediaType.index } })).status;
}

describe('referrers', { skip: registryMissing() }, () => {
  let registry: Registry;
  before(async () => { registry = await Registry.start(join(scratch, 'registry')); });
  after(() => registry?.stop());

  it('without the referrers API: the fallback tag index lists each artifact once, filtered by type on request', async () => {
    const img = await sampleImage('sbom');
    await pushImage(`${registry.host}/team/app:1`, img);
    const a = await attachArtifact(`${registry.host}/team/app:1`, sbom('app'));
    assert.deepEqual([a.subject, a.via], [img.digest, 'tag']);
    await attachArtifact(`${registry.host}/team/app:1`, sbom('app'), {}); // the same artifact again: listed once
    const s = await attachArtifact(`${registry.host}/team/app@${img.digest}`, signature);
    assert.equal(await tagStatus(registry, 'team/app', fallbackTag(img.digest)), 200);
    const all = await listReferrers(`${registry.host}/team/app:1`);
    assert.equal(all.via, 'tag');
    assert.deepEqual(all.referrers.map((r) => [r.digest, r.artifactType]), [[a.digest, 'application/spdx+json'], [s.digest, 'application/vnd.example.signature']]);
    const only = await listReferrers(`${registry.host}/team/app:1`, { artifactType: 'application/spdx+json' });
    assert.deepEqual(only.referrers.map((r) => r.digest), [a.digest]);
    const none = await sampleImage('no-referrers');
    await pushImage(`${registry.host}/team/none:1`, none);
    assert.deepEqual((await listReferrers(`${registry.host}/team/none:1`)).referrers, []);
  });

  it('artifacts attached at once to one image (a signature and its attestations) are all listed: the fallback index is updated one writer at a time', async () => {
    const img = await sampleImage('concurrent');
    await pushImage(`${registry.host}/team/busy:1`, img);
    const attached = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((n) => attachArtifact(`${registry.host}/team/busy:1`, sbom(n))));
    const listed = (await listReferrers(`${registry.host}/team/busy:1`)).referrers.map((r) => r.digest);
    assert.deepEqual(listed.sort(), attached.map((a) => a.digest).sort());
  });

  it('the artifact manifest names its subject and an empty config; skopeo reads the fallback index', { skip: runtimeMissing('skopeo') }, async () => {
    const img = await sampleImage('skopeo-referrers');
    await pushImage(`${registry.host}/team/sk:1`, img);
    const a = await attachArtifact(`${registry.host}/team/sk:1`, sbom('sk'));
    const raw = JSON.parse(assertRan(await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/team/sk@${a.digest}`])));
    assert.deepEqual(raw.subject, { mediaType: MediaType.manifest, digest: img.digest, size: img.manifestBytes.byteLength });
    assert.equal(raw.config.mediaType, 'application/vnd.oci.empty.v1+json');
    const index = JSON.parse(assertRan(await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/team/sk:${fallbackTag(img.digest)}`])));
    assert.deepEqual(index.manifests.map((m: ReferrerDescriptor) => m.digest), [a.digest]);
  });

  it('with the referrers API: OCI-Subject means no fallback tag is written, and the list comes from the API', async () => {
    const img = await sampleImage('api');
    await pushImage(`${registry.host}/team/api:1`, img);
    const expected = artifactManifest({ mediaType: MediaType.manifest, digest: img.digest, size: img.manifestBytes.byteLength }, sbom('api'));
    const apiIndex = canonicalJson({ schemaVersion: 2, mediaType: MediaType.index, manifests: [expected.descriptor, { ...expected.descriptor, digest: `sha256:${'1'.repeat(64)}`, artifactType: 'other/type' }] });
    const proxy = await FaultProxy.start(registry.url, (r): Fault | undefined => {
      if (r.method === 'PUT' && r.url.includes('/manifests/sha256:')) return { kind: 'add-headers', headers: { 'oci-subject': img.digest } };
      if (r.method === 'GET' && r.url.startsWith(`/v2/team/api/referrers/${img.digest}`)) {
        return { kind: 'respond', status: 200, headers: { 'content-type': MediaType.index }, body: apiIndex };
      }
      return undefined;
    });
    try {
      const a = await attachArtifact(`${proxy.host}/team/api:1`, sbom('api'));
      assert.deepEqual([a.digest, a.via], [expected.digest, 'api']);
      assert.equal(await tagStatus(registry, 'team/api', fallbackTag(img.digest)), 404, 'no fallback tag when the registry indexes referrers');
      // The API ignored the filter (no OCI-Filters-Applied): pith filters.
      const listed = await listReferrers(`${proxy.host}/team/api:1`, { artifactType: 'application/spdx+json' });
      assert.deepEqual([listed.via, listed.referrers.map((r) => r.digest)], ['api', [expected.digest]]);
    } finally {
      await proxy.close();
    }
  });
});
