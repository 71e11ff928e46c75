// Bundles the CLI and the library into dist/ so neither needs TypeScript (tsx) at run time nor resolves hundreds of
// module files: scripts/build.ts runs it (with the declarations beside it), as `npm run build`, before `npm test`
// and at `npm pack`. In a checkout nothing depends on it: bin/pith.js runs
// src/ through tsx whenever dist/ is missing or was made from other sources or dependencies (see
// src/cache/source-digest.ts); the published package has no src/ and always runs dist/.
//
//   node --import tsx scripts/bundle.ts [REPO]
import { build } from 'esbuild';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Dependencies left out of the bundle and loaded from node_modules at run time. The CycloneDX library cannot be
 * bundled: it finds its schemas through __dirname and tries optional plugins with require(). PGlite loads its
 * WebAssembly and data files beside its own module (import.meta.url); `pg` would pull its optional native binding
 * (`pg-native`) into the bundle's resolution. Both are loaded only when `pith serve` opens its store.
 */
export const EXTERNAL = ['@cyclonedx/cyclonedx-library', '@electric-sql/pglite', 'pg'] as const;
import { codeFingerprint, digestOfSources } from '../src/cache/source-digest.ts';

export const BUNDLE_MANIFEST = 'bundle.json';

/**
 * The bundle as a benchmark runs pith, as users do (`dist/`): made now unless the one there was made from these
 * very sources. Says which.
 */
export async function ensureBundle(root: string): Promise<string> {
  let fresh = false;
  try {
    fresh = JSON.parse(readFileSync(join(root, 'dist', BUNDLE_MANIFEST), 'utf8')).fingerprint === codeFingerprint(root);
  } catch {
    // no bundle yet
  }
  if (fresh) return 'the dist/ bundle';
  await bundle(root);
  return 'the dist/ bundle (made now: it was missing or stale)';
}

/**
 * Writes `<root>/dist`: pith.js (the CLI's `main`), index.js (the library), their lazily loaded chunks,
 * source-digest.js, bundle.json; then `finish(tmp)` may add to it before it replaces the old dist/.
 */
export async function bundle(root: string, finish?: (dir: string) => void | Promise<void>): Promise<{ fingerprint: string }> {
  const fingerprint = codeFingerprint(root);
  const tmp = join(root, `dist.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    await build({
      absWorkingDir: root,
      entryPoints: { pith: 'src/cli/main.ts', index: 'src/index.ts', 'source-digest': 'src/cache/source-digest.ts' },
      outdir: tmp,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      external: [...EXTERNAL],
      // Dependencies written as CommonJS call require() for Node built-ins, which ES modules lack.
      banner: { js: "import { createRequire as __pithCreateRequire } from 'node:module'; const require = __pithCreateRequire(import.meta.url);" },
      define: { PITH_SOURCE_DIGEST: JSON.stringify(digestOfSources(join(root, 'src'))) },
      chunkNames: 'chunks/[name]-[hash]',
      legalComments: 'none',
      logLevel: 'warning',
    });
    writeFileSync(join(tmp, BUNDLE_MANIFEST), JSON.stringify({ fingerprint }) + '\n');
    await finish?.(tmp);
    // Replaced whole: a launcher racing this sees the old bundle, the new one, or none (and then runs src/).
    const dist = join(root, 'dist');
    if (existsSync(dist)) rmSync(dist, { recursive: true, force: true });
    renameSync(tmp, dist);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return { fingerprint };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundle(resolve(process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url))));
}
