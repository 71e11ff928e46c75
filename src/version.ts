/**
 * pith's version: what `pith --version` prints, the SPDX creator and CycloneDX tool name, and the provenance's
 * builder version. One constant so they can never disagree; test/version.test.ts holds it equal to package.json's
 * (which bin/pith.js answers `--version` from without loading any of this).
 */
export const PITH_VERSION = '0.1.0';
