/**
 * What a registry holds: its repositories (`GET /v2/_catalog`) and each repository's tags (`GET /v2/NAME/tags/list`),
 * both followed through their `Link: <…>; rel="next"` pages, as the distribution spec pages them. Registries that
 * answer the catalog only to some users (or not at all) say so with a 401/403/404, reported as such.
 */
import { PithError } from '../errors.ts';
import { repositoryScope } from './auth.ts';
import { MANIFEST_LIMIT, type RegistryClient } from './client.ts';

/** The scope docker's token servers grant for the catalog. */
const CATALOG_SCOPE = 'registry:catalog:*';

/** Entries asked for per page: registries cap it themselves (docker-registry at 1000 by default). */
const PAGE = 1000;

/** Every repository in the registry's catalog, in the registry's order. */
export async function listRepositories(client: RegistryClient, page = PAGE): Promise<string[]> {
  return pages(client, `/v2/_catalog?n=${page}`, [CATALOG_SCOPE], 'repositories', `the catalog of ${client.domain}`);
}

/** Every tag of a repository (none for a repository that has no tags left). */
export async function listTags(client: RegistryClient, repository: string, page = PAGE): Promise<string[]> {
  return pages(client, `/v2/${repository}/tags/list?n=${page}`, [repositoryScope(repository, ['pull'])], 'tags', `the tags of ${client.domain}/${repository}`);
}

async function pages(client: RegistryClient, first: string, scopes: readonly string[], field: 'repositories' | 'tags', what: string): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<string>();
  for (let url: string | undefined = first; url !== undefined; ) {
    // A registry whose next link leads back to a page already read would otherwise be followed forever.
    if (seen.has(url)) throw new PithError('REGISTRY_BAD_RESPONSE', `${what}: the page ${url} links back to a page already read`);
    seen.add(url);
    const { bytes, res } = await client.getBytes({ url, scopes, ok: [200], what }, MANIFEST_LIMIT);
    let list: unknown;
    try {
      list = (JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>)[field];
    } catch (e) {
      throw new PithError('REGISTRY_BAD_RESPONSE', `${what}: expected JSON with a "${field}" list, found ${(e as Error).message}`);
    }
    // docker-registry answers `"tags": null` for a repository whose tags were all deleted.
    if (list === null || list === undefined) list = [];
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) throw new PithError('REGISTRY_BAD_RESPONSE', `${what}: expected "${field}" to be a list of names, found ${JSON.stringify(list).slice(0, 120)}`);
    out.push(...list);
    url = nextPage(res.headers.get('link'));
  }
  return out;
}

/** The `rel="next"` target of a Link header, as a path or URL the client resolves against the registry. */
function nextPage(link: string | null): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const m = /^\s*<([^>]+)>\s*;(.*)$/.exec(part);
    if (m && /\brel\s*=\s*"?next"?/i.test(m[2]!)) return m[1];
  }
  return undefined;
}
