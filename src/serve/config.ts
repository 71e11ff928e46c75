/**
 * `pith-serve.yaml`: what `pith serve` inventories (spec directories, registries, deployment manifests), how often,
 * against which advisories and archive, and where it listens and keeps its store. Read as pith.yaml is (one YAML +
 * zod reader, config/yaml.ts), so every error names file:line:column and an unknown key gets a "did you mean".
 * Paths in it are relative to the file, so a config means the same wherever `pith serve` is started.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { z } from 'zod';
import { parseYamlWithSchema } from '../config/yaml.ts';
import { parseSourceLine, type SourceEntry } from '../debian/sources.ts';
import { PithError } from '../errors.ts';
import { DOMAIN, PATH_COMPONENT } from '../oci/reference.ts';

/** What `pith serve` reads when no `--config` is given. */
export const SERVE_CONFIG_FILE = 'pith-serve.yaml';

/** `90s`, `10m`, `1h`, `1h30m`: whole seconds, minutes and hours. */
const DURATION = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

export const DEFAULT_INTERVAL_MS = 10 * 60_000;

const registrySchema = z.strictObject({
  registry: z.string().regex(new RegExp(`^${DOMAIN}$`), 'a registry HOST[:PORT], such as registry.example:5000'),
  /** Default: every repository the registry's catalog lists. */
  repositories: z.array(z.string().regex(new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`), 'a repository name such as team/app')).min(1).optional(),
  /** Plain HTTP allowed (loopback registries are always allowed it). */
  insecure: z.boolean().optional(),
});

const directories = z.array(z.string().min(1)).min(1);

/** pith-serve.yaml. Unknown keys are errors: a misspelt `registires:` must not silently inventory nothing. */
export const serveConfigSchema = z.strictObject({
  specs: directories.optional(),
  registries: z.array(registrySchema).min(1).optional(),
  manifests: directories.optional(),
  interval: z.string().regex(DURATION, 'a duration such as 90s, 10m, 1h or 1h30m').refine((d) => /[1-9]/.test(d), 'a duration longer than 0s').optional(),
  /** As `pith check --advisories` takes them: files, directories, zips or http(s) URLs. */
  advisories: z.array(z.string().min(1)).optional(),
  /** The archive that says whether a fix is available, as `--source` lines; default: the machine's apt sources. */
  sources: z.array(z.string().min(1)).min(1).optional(),
  /** HOST:PORT of the HTTP server (`--listen` overrides). */
  listen: z.string().regex(/^(?:\[[0-9a-fA-F:]+\]|[^\s:[\]]+):\d{1,5}$/, 'HOST:PORT, such as 127.0.0.1:8080').optional(),
  /** The store: a directory (PGlite) or a postgres:// URL (`--database` overrides). */
  database: z.string().min(1).optional(),
});

export interface RegistrySource {
  /** HOST[:PORT], as written. */
  registry: string;
  /** Undefined: every repository in the catalog. */
  repositories?: string[];
  insecure: boolean;
}

export interface ServeConfig {
  /** The config file, absolute. */
  file: string;
  /** Spec files or directories of specs, absolute. */
  specs: string[];
  registries: RegistrySource[];
  /** Deployment manifest files or directories, absolute. */
  manifests: string[];
  intervalMs: number;
  /** Paths made absolute; URLs as written. */
  advisories: string[];
  /** Undefined: the machine's apt sources. */
  sources?: SourceEntry[];
  listen?: string;
  /** An absolute directory, or a postgres:// URL as written. */
  database?: string;
  /** `file:line:column` of a key's value (`['registries', 1, 'registry']`), for errors found after loading. */
  at: (path: ReadonlyArray<string | number>) => string;
}

/** Milliseconds of a duration as the config writes it (`10m`); the text must match DURATION. */
export function durationMs(text: string): number {
  const m = DURATION.exec(text);
  if (!m || text === '') throw new PithError('SERVE_CONFIG_INVALID', `expected a duration such as 90s, 10m or 1h, found ${JSON.stringify(text)}`);
  return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
}

/** Reads and validates a pith-serve.yaml; every error names the file and line:column. */
export function loadServeConfig(file: string = SERVE_CONFIG_FILE): ServeConfig {
  const path = resolvePath(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new PithError('SERVE_CONFIG_NOT_FOUND', `${file}: cannot read the pith serve config (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseServeConfig(text, path);
}

/** A pith-serve.yaml's text; `file` names it in errors and is where its relative paths start. */
export function parseServeConfig(text: string, file: string): ServeConfig {
  const { value, at } = parseYamlWithSchema(text, file, serveConfigSchema.nullable(), { syntax: 'SERVE_CONFIG_SYNTAX', invalid: 'SERVE_CONFIG_INVALID' });
  // An empty file is a config with nothing to inventory yet, not an error: the service starts and says so.
  const c = value ?? {};
  const dir = dirname(resolvePath(file));
  const local = (p: string) => resolvePath(dir, p);
  const sources = c.sources?.map((line, i) => parseSourceLine(line, `${at(['sources', i])}: sources`));
  return {
    file: resolvePath(file),
    specs: (c.specs ?? []).map(local),
    registries: (c.registries ?? []).map((r) => ({ registry: r.registry, ...(r.repositories ? { repositories: r.repositories } : {}), insecure: r.insecure ?? false })),
    manifests: (c.manifests ?? []).map(local),
    intervalMs: c.interval === undefined ? DEFAULT_INTERVAL_MS : durationMs(c.interval),
    advisories: (c.advisories ?? []).map((a) => (/^https?:\/\//.test(a) ? a : local(a))),
    ...(sources ? { sources } : {}),
    ...(c.listen ? { listen: c.listen } : {}),
    ...(c.database ? { database: /^postgres(ql)?:\/\//.test(c.database) ? c.database : local(c.database) } : {}),
    at,
  };
}
