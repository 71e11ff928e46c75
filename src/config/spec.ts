import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { isMap, isScalar, isSeq } from 'yaml';
import { z } from 'zod';
import { PithError } from '../errors.ts';
import { parseYamlWithSchema } from './yaml.ts';

const packageName = z.string().regex(/^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[^\s=]+)?$/, 'a Debian package name, optionally with :arch and =version');

const sourceSchema = z.strictObject({
  uri: z.string().regex(/^(https?|file):\/\//, 'an http://, https:// or file:// URI'),
  suites: z.array(z.string().min(1)).min(1),
  components: z.array(z.string().min(1)).min(1),
  architectures: z.array(z.string()).optional(),
  'signed-by': z.string().optional(),
});

const exclusionSchema = z.union([
  packageName.transform((name) => ({ name, reason: undefined as string | undefined })),
  z.strictObject({ name: packageName, reason: z.string().optional() }),
]);

const userSchema = z.strictObject({
  name: z.string().regex(/^[a-z_][a-z0-9_-]*$/),
  uid: z.number().int().min(0),
  gid: z.number().int().min(0).optional(),
  home: z.string().optional(),
  shell: z.string().optional(),
});

/** pith.yaml, version 1. Unknown keys are errors: a typo must never be silently ignored. */
export const specSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'a lower-case image name'),
  archive: z
    .strictObject({
      sources: z.array(sourceSchema).min(1).optional(),
      keyring: z.string().optional(),
      /** Base URL of a snapshot service: where locked versions the archive dropped are fetched from. */
      snapshot: z.string().min(1).optional(),
    })
    .optional(),
  architectures: z.array(z.string().regex(/^[a-z0-9-]+$/)).min(1).optional(),
  /** May be empty: an image of only `files:` (a static binary) still gets base-files' os-release from the lock. */
  packages: z.array(packageName),
  exclude: z.array(exclusionSchema).optional(),
  keep: z.array(packageName).optional(),
  /**
   * The one host directory `files:` may read from (relative to the spec; default: the spec's own directory), as a
   * Docker build context is: a spec from an untrusted change must not reach the host's secrets.
   */
  context: z.string().min(1).refine((c) => !c.startsWith('/'), 'expected a directory relative to the spec, such as ".."').optional(),
  files: z
    .array(
      z.strictObject({
        from: z.string().min(1),
        to: z.string().startsWith('/'),
        // parseSpec has already read a plain `mode: 755` (or 0755) as octal, as chmod does.
        mode: z.union([z.number().int().min(0).max(0o7777), z.string().regex(/^0?[0-7]{3,4}$/, 'an octal mode such as 755 or 0644')]).optional(),
        owner: z.union([z.string(), z.number().int()]).optional(),
      }),
    )
    .optional(),
  /** ELF files from `files:` must find their libraries in the image: auto adds the packages that ship them, check only verifies. */
  libraries: z.enum(['auto', 'check', 'off']).optional(),
  accounts: z
    .strictObject({
      users: z.array(userSchema).optional(),
      groups: z.array(z.strictObject({ name: z.string(), gid: z.number().int().min(0) })).optional(),
      'run-as': z.union([z.string(), z.number().int()]).optional(),
    })
    .optional(),
  entrypoint: z.array(z.string()).optional(),
  cmd: z.array(z.string()).optional(),
  env: z.record(z.string(), z.string()).optional(),
  workdir: z.string().startsWith('/').optional(),
  /** /etc/localtime when tzdata is in the image (default UTC). */
  timezone: z.string().regex(/^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/, 'a zone name such as Europe/Paris').optional(),
  expose: z.array(z.union([z.number().int(), z.string()])).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  paths: z.strictObject({ exclude: z.array(z.string()).optional(), keep: z.array(z.string()).optional() }).optional(),
  layers: z.strictObject({ budget: z.number().int().min(1).optional() }).optional(),
  test: z
    .strictObject({
      command: z.array(z.string()).min(1),
      'exit-code': z.number().int().optional(),
      output: z.string().optional(),
      timeout: z.number().positive().optional(),
    })
    .optional(),
});

export type Spec = z.infer<typeof specSchema>;

export interface LoadedSpec {
  spec: Spec;
  /** Absolute path of the spec file. */
  path: string;
  /** Directory relative paths in the spec are resolved against. */
  dir: string;
  /**
   * `file:line:column` of the value at a spec path (`['files', 2, 'from']`), or of its closest ancestor, so that
   * checks made after loading (the host files behind `files:`) still point at the line to fix. Absent for a spec
   * built by hand.
   */
  at?: (path: ReadonlyArray<string | number>) => string;
  /**
   * The caller's bound on the build context: the spec's context (its directory, or what `context:` names) must lie
   * inside it after symlinks are resolved, so a spec from an untrusted change cannot widen its own context to reach
   * the host's files. Set by `loadSpec`'s option, else `$PITH_CONTEXT_ROOT`; absent means no bound beyond the context.
   */
  contextRoot?: string;
}

export interface LoadSpecOptions {
  /** See `LoadedSpec.contextRoot`; default `$PITH_CONTEXT_ROOT` when set and not empty. */
  contextRoot?: string;
}

/** What a spec file is called; in a directory, the first of these that exists is its spec. */
export const SPEC_FILE_NAMES = ['pith.yaml', 'pith.yml'] as const;

/**
 * The spec a path names: a directory means the spec in it (`pith build .`), as `pith init DIR` writes it and
 * `check` and `update` find it; anything else is the spec file itself.
 */
export function specFileOf(path: string): string {
  try {
    if (!statSync(path).isDirectory()) return path;
  } catch {
    return path; // reading it says what is wrong
  }
  return SPEC_FILE_NAMES.map((n) => join(path, n)).find((p) => existsSync(p)) ?? join(path, SPEC_FILE_NAMES[0]);
}

/** Reads and validates a pith.yaml (or the one in a directory); every error names the file and line:column. */
export function loadSpec(file: string, options: LoadSpecOptions = {}): LoadedSpec {
  const named = specFileOf(file);
  const path = resolvePath(named);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new PithError('SPEC_NOT_FOUND', `${named}: cannot read the spec (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const { spec, at } = parseSpecText(text, path);
  const contextRoot = options.contextRoot ?? (process.env.PITH_CONTEXT_ROOT || undefined);
  return { spec, path, dir: dirname(path), at, ...(contextRoot !== undefined ? { contextRoot: resolvePath(contextRoot) } : {}) };
}

export function parseSpec(text: string, file: string): Spec {
  return parseSpecText(text, file).spec;
}

function parseSpecText(text: string, file: string): { spec: Spec; at: (path: ReadonlyArray<string | number>) => string } {
  const { value, at } = parseYamlWithSchema(text, file, specSchema, { syntax: 'SPEC_SYNTAX', invalid: 'SPEC_INVALID' }, octalModes);
  return { spec: value, at };
}

/**
 * YAML reads `mode: 0755` and `mode: 755` as the decimal 755 (0o1363: sticky, odd bits), which is never what a
 * user who writes chmod's digits means; a mode written with octal digits only is read as octal, as chmod reads it.
 * `0o755` (YAML's own octal) stays as YAML read it.
 */
function octalModes(root: unknown, text: string): void {
  const files = isMap(root) ? root.get('files', true) : undefined;
  if (!isSeq(files)) return;
  for (const item of files.items) {
    const mode = isMap(item) ? item.get('mode', true) : undefined;
    if (!isScalar(mode) || typeof mode.value !== 'number' || !mode.range) continue;
    const written = text.slice(mode.range[0], mode.range[1]).trim();
    if (/^0?[0-7]{3,4}$/.test(written)) mode.value = parseInt(written, 8);
  }
}
