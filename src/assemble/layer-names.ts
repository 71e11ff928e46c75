/**
 * History comments of the layers other stages look for by name: an SBOM lists the spec-files layer's files as the
 * image's own, and the build test expects the available layer to change with any package.
 */

/** The layer holding the spec's `files:`. */
export const SPEC_FILES_LAYER = 'files from the spec';
/** The layer of /var/lib/dpkg/available alone: it changes with every package, so it stays small and apart. */
export const AVAILABLE_LAYER = "pith: the archive's record of each package (/var/lib/dpkg/available)";
