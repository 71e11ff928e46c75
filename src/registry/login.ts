/**
 * `pith login` and `pith logout`: credentials checked against the registry, then saved where docker keeps them
 * (see credentials.ts). As `docker login` does, a token server that hands out an offline (refresh) token at login
 * gets that token saved as the identity token instead of the password.
 */
import { PithError } from '../errors.ts';
import { removeCredentials, storeCredentials, type Credentials, type StoredCredentials } from './credentials.ts';
import { RegistryClient, registriesConfOf, type RegistryOptions } from './client.ts';
import { registryHost } from './registries-conf.ts';
import { tokenRealm } from './auth.ts';

export interface LoginResult extends StoredCredentials {
  registry: string;
  /** Whether an identity token was saved rather than the password. */
  identityToken: boolean;
}

export async function login(registry: string, creds: { username: string; password: string }, options: RegistryOptions = {}): Promise<LoginResult> {
  const { host, insecure } = registryHost(await registriesConfOf(options), registry);
  const client = RegistryClient.open(host, { ...options, credentials: { ...creds, from: 'the login' } }, undefined, { insecure });
  await client.base();
  const challenge = client.auth.current;
  let saved: Credentials = creds;
  const refused = (detail: string) =>
    new PithError('REGISTRY_LOGIN_FAILED', `expected ${registry} to accept the user "${creds.username}", it refused (${detail}); nothing was saved`);
  if (challenge?.scheme === 'bearer') {
    const url = tokenRealm(challenge, host);
    if (challenge.service) url.searchParams.set('service', challenge.service);
    url.searchParams.set('offline_token', 'true');
    url.searchParams.set('client_id', 'pith');
    const res = await client.send(url.href, {
      headers: { authorization: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` },
    }, `the login to ${registry}`, true);
    const text = await res.text();
    if (!res.ok) throw refused(`the token server answered ${res.status} ${res.statusText}`);
    const refresh = (JSON.parse(text) as { refresh_token?: string }).refresh_token;
    if (refresh) saved = { username: creds.username, identityToken: refresh };
  } else if (challenge?.scheme === 'basic') {
    const res = await client.request({ method: 'GET', url: '/v2/', scopes: [], ok: [200, 401], what: `the login to ${registry}` });
    await res.body?.cancel();
    if (res.status !== 200) throw refused('401 with these credentials');
  }
  const stored = await storeCredentials(registry, saved, options.env);
  return { registry, ...stored, identityToken: saved.identityToken !== undefined };
}

export async function logout(registry: string, options: RegistryOptions = {}): Promise<{ registry: string; removed: boolean }> {
  return { registry, removed: await removeCredentials(registry, options.env) };
}
