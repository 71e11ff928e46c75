import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PITH_VERSION } from '../src/version.ts';

// bin/pith.js answers `--version` from package.json; everything else (the CLI's help, the SBOMs' creator, the
// provenance's builder version) states PITH_VERSION. They must be one number.
test("pith's version constant is package.json's version", () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(PITH_VERSION, pkg.version);
});
