/**
 * Registry credentials where docker and podman keep them, read (and, for `pith login`/`logout`, written) the way
 * they do:
 *  - docker's `config.json` in `$DOCKER_CONFIG`, else `~/.docker`: `auths` (base64 `auth` of "user:password",
 *    or `username`/`password`, and `identitytoken`), `credHelpers` (per registry) and `credsStore` (all registries),
 *    a helper being the program `docker-credential-NAME` speaking docker's credential-helper protocol;
 *  - podman's `auth.json`: `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`, whose keys may
 *    also name a namespace or repository ("registry/team") — the most specific key wins.
 * Files are searched in that order: an explicitly named podman file, docker's config, podman's default.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { PithError } from '../errors.ts';
import { makeDirs, writeFileAtomic } from '../cache/store.ts';
import { DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN } from '../oci/reference.ts';

export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token from a token server, exchanged for access tokens (docker's `identitytoken`). */
  identityToken?: string;
  /** Where they came from, for messages: a file, or a helper program. */
  from?: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [key: string]: unknown;
}

/** Docker's key for its default registry in `auths` and helpers: the legacy index URL its CLI has always used. */
const DEFAULT_REGISTRY_KEY = `https://${LEGACY_DEFAULT_DOMAIN}/v1/`;

/** The key docker's CLI stores a registry's credentials under. */
export function dockerConfigKey(registry: string): string {
  return registry === DEFAULT_DOMAIN ? DEFAULT_REGISTRY_KEY : registry;
}

/** docker's `config.json`. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker'), 'config.json');
}

/** The files searched for credentials, in order. */
export function credentialFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  files.push(dockerConfigPath(env));
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  return [...new Set(files)];
}

/**
 * A key as written in a file, reduced to what it names: "https://host/v1/" → "host" (docker's
 * ConvertToHostname), "host/team/app" kept whole (podman's per-repository keys).
 */
function normaliseKey(key: string): string {
  const hadScheme = /^https?:\/\//.test(key);
  let k = key.replace(/^https?:\/\//, '');
  if (hadScheme) k = k.split('/')[0]!;
  k = k.replace(/\/+$/, '');
  return k === LEGACY_DEFAULT_DOMAIN ? DEFAULT_DOMAIN : k;
}

/** Most specific first: "host/team/app", "host/team", "host". */
function lookupKeys(registry: string, repository?: string): string[] {
  const keys: string[] = [];
  const parts = repository ? repository.split('/') : [];
  for (let n = parts.length; n > 0; n--) keys.push(`${registry}/${parts.slice(0, n).join('/')}`);
  keys.push(registry);
  return keys;
}

function findEntry<T>(map: Record<string, T> | undefined, registry: string, repository?: string): T | undefined {
  if (!map) return undefined;
  const byKey = new Map(Object.entries(map).map(([k, v]) => [normaliseKey(k), v]));
  for (const key of lookupKeys(registry, repository)) {
    const v = byKey.get(key);
    if (v !== undefined) return v;
  }
  return undefined;
}

async function readConfig(path: string): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PithError('REGISTRY_AUTH_FILE', `expected to read the credentials file ${path}, found ${(e as Error).message}`, { cause: e });
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as ConfigFile;
  } catch (e) {
    throw new PithError('REGISTRY_AUTH_FILE', `expected ${path} to hold a JSON object of credentials ("auths": {...}), found ${(e as Error).message}`, { cause: e });
  }
}

function decodeEntry(entry: AuthEntry, from: string, registry: string): Credentials | undefined {
  let username = entry.username;
  let password = entry.password;
  if (entry.auth) {
    const text = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon === -1) {
      throw new PithError('REGISTRY_AUTH_FILE', `expected the "auth" for ${registry} in ${from} to be base64 of "user:password", found no ":" in it`);
    }
    username = text.slice(0, colon);
    password = text.slice(colon + 1);
  }
  const creds: Credentials = { from };
  if (username) creds.username = username;
  if (password) creds.password = password;
  if (entry.identitytoken) creds.identityToken = entry.identitytoken;
  return creds.password || creds.identityToken ? creds : undefined;
}

/** The credentials for a registry (and repository, for podman's per-repository keys), or undefined: anonymous. */
export async function findCredentials(registry: string, repository?: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | undefined> {
  for (const file of credentialFiles(env)) {
    const config = await readConfig(file);
    if (!config) continue;
    const helper = findEntry(config.credHelpers, registry) ?? config.credsStore;
    if (helper) {
      const found = await helperGet(helper, dockerConfigKey(registry), env);
      if (found) return found;
    }
    const entry = findEntry(config.auths, registry, repository);
    const creds = entry ? decodeEntry(entry, file, registry) : undefined;
    if (creds) return creds;
  }
  return undefined;
}

// ------------------------------------------------------------------------------------------------ credential helpers

/** Runs `docker-credential-NAME ACTION` with `input` on stdin; resolves with its stdout, or undefined for "not found". */
async function runHelper(name: string, action: 'get' | 'store' | 'erase', input: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const program = `docker-credential-${name}`;
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((ok, fail) => {
    const child = spawn(program, [action], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => { out += b; });
    child.stderr.on('data', (b: Buffer) => { err += b; });
    child.on('error', (e: NodeJS.ErrnoException) => {
      fail(e.code === 'ENOENT'
        ? new PithError('REGISTRY_CREDENTIAL_HELPER', `expected the credential helper ${program} (named by credsStore or credHelpers) on PATH, found none`)
        : e);
    });
    child.on('close', (c) => ok({ code: c, stdout: out, stderr: err }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
  if (code === 0) return stdout;
  // The protocol's answer for a registry the store has nothing for (docker's credentials.errCredentialsNotFound).
  if (/credentials not found/i.test(stdout + stderr)) return undefined;
  throw new PithError('REGISTRY_CREDENTIAL_HELPER', `expected \`${program} ${action}\` to succeed, it exited ${code}: ${(stderr || stdout).trim()}`);
}

async function helperGet(name: string, serverUrl: string, env: NodeJS.ProcessEnv): Promise<Credentials | undefined> {
  const out = await runHelper(name, 'get', serverUrl, env);
  if (out === undefined) return undefined;
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(out) as { Username?: string; Secret?: string };
  } catch {
    throw new PithError('REGISTRY_CREDENTIAL_HELPER', `expected docker-credential-${name} get to print {"Username","Secret"} as JSON, found ${JSON.stringify(out.slice(0, 80))}`);
  }
  if (!parsed.Secret) return undefined;
  const from = `docker-credential-${name}`;
  // The helper protocol marks an identity token by the user name "<token>".
  return parsed.Username === '<token>' ? { identityToken: parsed.Secret, from } : { username: parsed.Username, password: parsed.Secret, from };
}

// -------------------------------------------------------------------------------------------------- login, logout

export interface StoredCredentials {
  /** The config file written. */
  file: string;
  /** The credential helper that holds the secret, when one is configured. */
  helper?: string;
}

/**
 * Saves credentials as `docker login` does: into the helper configured for the registry (credHelpers, then
 * credsStore) with an empty marker in `auths`, else into `auths` itself. Other settings in the file are kept;
 * the file is written atomically, readable by its owner only.
 */
export async function storeCredentials(registry: string, creds: Credentials, env: NodeJS.ProcessEnv = process.env): Promise<StoredCredentials> {
  const file = dockerConfigPath(env);
  const config = (await readConfig(file)) ?? {};
  const key = dockerConfigKey(registry);
  const auths = dropKeys(config.auths ?? {}, registry);
  const helper = findEntry(config.credHelpers, registry) ?? config.credsStore;
  if (helper) {
    const username = creds.identityToken ? '<token>' : creds.username ?? '';
    const secret = creds.identityToken ?? creds.password ?? '';
    await runHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: username, Secret: secret }), env);
    auths[key] = {};
  } else {
    const entry: AuthEntry = { auth: Buffer.from(`${creds.username ?? ''}:${creds.identityToken ? '' : creds.password ?? ''}`).toString('base64') };
    if (creds.identityToken) entry.identitytoken = creds.identityToken;
    auths[key] = entry;
  }
  await writeConfig(file, { ...config, auths });
  return { file, ...(helper ? { helper } : {}) };
}

/** Removes a registry's credentials as `docker logout` does; resolves with whether there were any. */
export async function removeCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const file = dockerConfigPath(env);
  const config = await readConfig(file);
  if (!config) return false;
  const auths = config.auths ?? {};
  const kept = dropKeys(auths, registry);
  let removed = Object.keys(kept).length !== Object.keys(auths).length;
  const helper = findEntry(config.credHelpers, registry) ?? config.credsStore;
  if (helper) removed = (await runHelper(helper, 'erase', dockerConfigKey(registry), env)) !== undefined || removed;
  if (Object.keys(kept).length !== Object.keys(auths).length) await writeConfig(file, { ...config, auths: kept });
  return removed;
}

function dropKeys(auths: Record<string, AuthEntry>, registry: string): Record<string, AuthEntry> {
  return Object.fromEntries(Object.entries(auths).filter(([k]) => normaliseKey(k) !== registry));
}

async function writeConfig(file: string, config: ConfigFile): Promise<void> {
  await makeDirs(dirname(file), 0o700);
  await writeFileAtomic(file, JSON.stringify(config, null, '\t') + '\n', 0o600);
}
