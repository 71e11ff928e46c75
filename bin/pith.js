#!/usr/bin/env node
// Launcher. pith ships TypeScript sources and runs them through tsx, so the repository needs no build step.
// `npm install` also bundles the CLI into dist/ (the `prepare` script, scripts/bundle.ts), which starts several times
// faster; it is used only while the sources and dependencies are exactly those it was made from, so an edit to src/
// is never shadowed by a stale bundle.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = (await bundledMain()) ?? (await sourceMain());
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
