import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listRepositories, listTags } from '../../src/registry/catalog.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { pushImage } from '../../src/registry/push.ts';
import { isPithError } from '../../src/errors.ts';
import { Registry, registryMissing } from '../fixtures/registry.ts';
import { sampleImage } from './helpers.ts';

const skip = registryMissing();
const scratch = mkdtempSync(join(tmpdir(), 'pith-catalog-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('a registry\'s repositories and tags, through every page', { skip }, () => {
  let registry: Registry;
  before(async () => {
    registry = await Registry.start(join(scratch, 'registry'));
    const img = await sampleImage('catalog');
    for (const ref of ['team/web:1', 'team/web:2', 'team/web:latest', 'base:12', 'zz/last:1']) await pushImage(`${registry.host}/${ref}`, img);
  });
  after(() => registry?.stop());

  it('lists every repository and every tag, following the Link header one entry per page', async () => {
    const client = RegistryClient.open(registry.host, {});
    assert.deepEqual(await listRepositories(client), ['base', 'team/web', 'zz/last']);
    const first = await fetch(`${registry.url}/v2/_catalog?n=1`);
    assert.match(first.headers.get('link') ?? '', /rel="next"/, 'the registry pages the catalog');
    assert.deepEqual(await listRepositories(client, 1), ['base', 'team/web', 'zz/last'], 'three pages of one');
    assert.deepEqual((await listTags(client, 'team/web', 2)).sort(), ['1', '2', 'latest'], 'two pages, in the registry\'s order');
  });

  it('a repository that does not exist is REGISTRY_NOT_FOUND naming it', async () => {
    const client = RegistryClient.open(registry.host, {});
    await assert.rejects(listTags(client, 'no/such'), (e) => isPithError(e, 'REGISTRY_NOT_FOUND') && e.message.includes(`the tags of ${registry.host}/no/such`));
  });
});
