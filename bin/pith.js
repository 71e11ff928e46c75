#!/usr/bin/env -S MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=4 --heap-growing-percent=50 --initial-old-space-size=64
// Launcher. Its #! line (`env -S`) sets how memory is managed, for a large build's peak (the 300-package build of
// bench:large; bench:build's small builds measured too): a 4 MB young generation instead of 16 MB semi-spaces (peak
// 339 → 296 MB in paired runs), and glibc malloc handing buffers of 128 KiB and more straight back to the system (a
// fixed mmap threshold, two arenas; resident 274 → 222 MB after unpacking) instead of keeping what a build's stream
// of short-lived buffers leaves fragmented; and an old generation that grows by half its live size between full
// collections (V8 otherwise lets it reach about twice: python300 peaked 256–259 MB with it, 266–290 MB without, for
// ~6% more CPU; 20% gave 247–252 MB for ~25% more), starting at 64 MB so that a small build's start-up runs no full
// collection (with 50% alone warm builds of python3-minimal took ~9% longer; with both, as long as without: paired
// runs). The published package
// ships only the compiled dist/ (no src/, no tsx, no esbuild) and always runs it.
// A checkout has src/ and runs it through tsx, so editing needs no build step; the dist/ that `npm install` makes
// there (`prepare`, scripts/build.ts) starts several times faster and is used only while the sources and
// dependencies are exactly those it was made from, so an edit to src/ is never shadowed by a stale bundle.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// `pith --version` answers from package.json before anything else loads: a version check (CI scripts, `which`-style
// probes) then costs Node's own start-up and little more.
if (process.argv.length === 3 && (process.argv[2] === '--version' || process.argv[2] === '-V')) {
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
  process.exit(0);
}

const main = existsSync(new URL('../src/', import.meta.url))
  ? ((await bundledMain()) ?? (await sourceMain()))
  : (await import('../dist/pith.js')).main;
process.exitCode = await main(process.argv);

async function bundledMain() {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(new URL('../dist/bundle.json', import.meta.url), 'utf8'));
  } catch {
    return undefined; // no bundle (or one being replaced): run the sources
  }
  const { codeFingerprint } = await import('../dist/source-digest.js');
  if (codeFingerprint(fileURLToPath(new URL('..', import.meta.url))) !== manifest.fingerprint) return undefined;
  return (await import('../dist/pith.js')).main;
}

async function sourceMain() {
  const { register } = await import('tsx/esm/api');
  register();
  return (await import('../src/cli/main.ts')).main;
}
