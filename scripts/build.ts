// Makes dist/, what the published package runs: the bundled CLI and library (scripts/bundle.ts) and their type
// declarations (tsc, tsconfig.build.json) in dist/types. `npm run build`; `prepack` and `pretest` run it (not
// `prepare`: npm warns a user about any install-time script, even one a tarball install never runs). esbuild and
// TypeScript are devDependencies: only this script needs them.
//
//   node --import tsx scripts/build.ts [REPO]
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundle } from './bundle.ts';

export async function buildPackage(root: string): Promise<void> {
  // The TypeScript compiler as installed, not whatever `tsc` is on PATH (its package exports no bin/ path).
  const tsc = join(dirname(createRequire(join(root, 'package.json')).resolve('typescript/package.json')), 'bin', 'tsc');
  await bundle(root, (dist) => {
    execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', join(dist, 'types')], { cwd: root, stdio: 'inherit' });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildPackage(resolve(process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url))));
}
