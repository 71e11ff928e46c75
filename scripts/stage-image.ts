// Stages what pith's own image holds (examples/pith): the package as `npm pack` makes it (bin/, dist/, package.json,
// LICENSE, README) and the dependencies the bundle loads at run time (those it leaves out, and theirs), copied from
// this checkout's node_modules — no registry is asked. Usage:
//   node --import tsx scripts/stage-image.ts [DEST]     (default examples/pith/stage, which git ignores)
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXTERNAL } from './bundle.ts';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** Writes DEST/pith: the packed package with its production node_modules. Returns that directory. */
export function stageImage(dest = join(root, 'examples/pith/stage')): string {
  const tmp = mkdtempSync(join(tmpdir(), 'pith-stage-'));
  try {
    const [packed] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })) as Array<{ filename: string }>;
    execFileSync('tar', ['-xzf', join(tmp, basename(packed!.filename)), '-C', tmp]);
    // Only what the bundle leaves out (EXTERNAL) and what those need — their dependencies and the peer
    // dependencies installed here — copied from node_modules as npm installed them (hoisted, one level).
    const wanted = new Set<string>();
    const visit = (name: string) => {
      if (wanted.has(name)) return;
      let manifest: { dependencies?: Record<string, string>; peerDependencies?: Record<string, string> };
      try {
        manifest = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as typeof manifest;
      } catch {
        return; // an optional peer that is not installed
      }
      wanted.add(name);
      for (const dep of Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies })) visit(dep);
    };
    for (const name of EXTERNAL) visit(name);
    for (const name of wanted) cpSync(join(root, 'node_modules', name), join(tmp, 'package', 'node_modules', name), { recursive: true });
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dest, { recursive: true });
    renameSync(join(tmp, 'package'), join(dest, 'pith'));
    return join(dest, 'pith');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const staged = stageImage(process.argv[2] ? resolve(process.argv[2]) : undefined);
  console.log(`staged ${staged} (${readdirSync(join(staged, 'node_modules')).length} top-level dependencies)`);
}
