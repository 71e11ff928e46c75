/**
 * Every error pith reports to a user is a PithError: a stable machine-readable `code` from ERROR_CATALOGUE below,
 * a message that says what was expected, what was found and where (file:line, package, URL), and optional
 * structured `details`. The CLI prints `pith: CODE: message` without a stack trace and exits with the code's status.
 */

/** pith's exit statuses. The CLI's `--help` and the README list them from EXIT_STATUSES. */
export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;
export const EXIT_DRIFT = 3;
/** `pith check --fail-on`: what it names was found (a CI gate). No error carries it: findings are a report. */
export const EXIT_FINDINGS = 4;

/** The statuses an error can carry; 0 and 4 are outcomes of a run that worked. */
export type ExitStatus = typeof EXIT_ERROR | typeof EXIT_USAGE | typeof EXIT_DRIFT;

/** What each status means, one line each. */
export const EXIT_STATUSES: ReadonlyArray<readonly [status: number, meaning: string]> = [
  [EXIT_OK, 'success'],
  [EXIT_ERROR, 'error (the message names what was expected, what was found, and where)'],
  [EXIT_USAGE, 'usage error (unknown command or option, an option value of the wrong form, a missing or conflicting argument)'],
  [EXIT_DRIFT, 'pith lock --check found drift (spec changed, locked versions gone, or newer candidates), or a command needs a lock that was made from another spec'],
  [EXIT_FINDINGS, "pith check --fail-on: security — a security update or an advisory's fix is available; any — any newer package, affecting advisory, or lock problem"],
];

/**
 * Every error code, what it means to a user, and the status the CLI exits with.
 *
 * How a status is chosen, so that a script can branch on it:
 * - 2 (usage) only when the command line alone is wrong, whatever the files, images and servers say: the
 *   option values of a fixed form (numbers, sizes, capability names, `-e NAME=VALUE`, container names, SBOM format
 *   names), a missing command after `--exec`, options that need or exclude each other. A value written in one of
 *   pith's input languages — an apt source line, an image reference or location, a package request — is input
 *   and exits 1 even when it came from the command line, because the same parser reads it from files and the
 *   status cannot depend on where the text was (`--source` and `rollout --image` have always exited 1).
 * - 3 (drift) when the lock is behind its spec: the same condition `pith lock --check` reports with 3, met by a
 *   command that needs the lock (build, update); re-locking is the fix, as it is for `lock --check`.
 * - 1 for everything else: bad input files, images, archives and registries, the network, missing tools.
 * INTERNAL is never thrown: it names, in `--json` output, an error that is not a PithError (a bug).
 */
export const ERROR_CATALOGUE = {
  // The CLI and the library's own contract
  INTERNAL: { exit: 1, meaning: 'a bug in pith, not a problem with the input: the stack trace is on stderr; please report it' },
  USAGE: { exit: 2, meaning: 'the command line asks for something contradictory or incomplete (e.g. update --rollout without --push), or SOURCE_DATE_EPOCH is not a whole number of seconds' },
  INVALID_OPTION: { exit: 2, meaning: 'a library option has a value of the wrong form (e.g. jobs: 0 or NaN); the CLI reports the same as a usage error naming the option' },

  // net/, cache/
  HTTP_NOT_FOUND: { exit: 1, meaning: 'a server (or a file: URL) has nothing at the URL: 404, 410 or no such file' },
  HTTP_STATUS: { exit: 1, meaning: 'a server answered a final HTTP status other than 200 (a 4xx that is not 404, 410 or 429)' },
  NETWORK: { exit: 1, meaning: 'a URL could not be fetched: its host name does not resolve (not retried), or connection errors, timeouts, 5xx or 429 until the retries ran out' },
  CACHE_REF_INVALID: { exit: 2, meaning: 'a --cache-from or --cache-to value is not a registry repository (it names a tag or digest, or is no reference)' },
  CACHE_BAD_DIGEST: { exit: 1, meaning: 'a content-store key is not a 64-digit lower-case hex SHA256' },
  CACHE_DIGEST_MISMATCH: { exit: 1, meaning: 'bytes to be cached do not have the SHA256 they were stored under; nothing was cached' },
  CONTENT_CHANGED: { exit: 1, meaning: "a file the build read earlier (a spec's files: entry, or pith's own spill file) no longer holds the bytes it had; nothing was written" },
  CONTENT_TOO_LARGE: { exit: 1, meaning: 'a file a build stage must read whole (to inspect it, not to copy it) is larger than the biggest buffer Node can make' },
  OUTPUT_UNWRITABLE: { exit: 1, meaning: 'an output (image layout or archive, lock, SBOM, cache file) cannot be written where it was asked for: the message names the path and what the system said' },

  // fs/
  PATH_CONFLICT: { exit: 1, meaning: 'two sources of the image tree want different kinds of entry at one path' },
  PATH_HARDLINK_TARGET: { exit: 1, meaning: 'a package ships a hardlink whose target is not a file already in the image' },
  PATH_INVALID: { exit: 1, meaning: 'a path given to the image tree is not a path below /' },
  SYMLINK_LOOP: { exit: 1, meaning: 'a path in the image does not resolve within the symlink hop limit (a loop?)' },

  // config/: pith.yaml and its files:
  SPEC_NOT_FOUND: { exit: 1, meaning: 'the spec file (or a directory of specs) cannot be read' },
  SPEC_SYNTAX: { exit: 1, meaning: 'the spec is not valid YAML (the message gives file:line:column)' },
  SPEC_INVALID: { exit: 1, meaning: 'the spec does not match the schema, or files: names an owner the image does not define' },
  SPEC_EXISTS: { exit: 1, meaning: 'pith init found a spec already there; it never overwrites one' },
  SPEC_FILE_MISSING: { exit: 1, meaning: 'a files: entry (or context:) names a host path that is missing, or a fifo, socket or device (alone or inside a copied directory)' },
  PATH_ESCAPES: { exit: 1, meaning: "a files: source lies outside the build context after symlinks are resolved (the spec's directory, or context:), the context lies outside the caller's context root, or a destination lies outside the image" },

  // debian/: formats
  DEB822_SYNTAX: { exit: 1, meaning: 'a deb822 file (Packages, Release, *.sources, dpkg status) has a line that is not a field' },
  RELATION_SYNTAX: { exit: 1, meaning: 'a relation field (Depends, Provides, Replaces…) cannot be parsed' },
  INVALID_VERSION: { exit: 1, meaning: 'a Debian version does not have the form [epoch:]upstream[-revision]' },
  INVALID_RELATION: { exit: 1, meaning: 'a version relation operator is not one of << <= = >= >>' },
  CONTENTS_MALFORMED: { exit: 1, meaning: 'a Contents index has a line that is not "PATH LOCATION"' },
  DEB_MALFORMED: { exit: 1, meaning: 'a .deb is not a well-formed Debian package (ar archive with control and data members)' },
  DEB_TOO_LARGE: { exit: 1, meaning: 'a .deb unpacks to more bytes or tar entries than the limits allow' },
  DEB_UNSAFE_PATH: { exit: 1, meaning: 'a .deb has an entry whose path climbs above the filesystem root' },
  DEB_UNSUPPORTED_COMPRESSION: { exit: 1, meaning: 'a .deb member is compressed with something other than gzip, xz or zstd' },
  DEB_UNSUPPORTED_ENTRY: { exit: 1, meaning: 'a .deb holds a device node, FIFO or socket, which pith images never carry' },

  // debian/: sources, keyrings and InRelease
  NO_SOURCES: { exit: 1, meaning: "no archive source: none in the spec, none given with --source, none in the machine's apt sources" },
  SOURCES_MALFORMED: { exit: 1, meaning: 'an apt source (a sources file entry or --source) cannot be parsed' },
  SOURCES_UNREADABLE: { exit: 1, meaning: 'an apt sources file or directory cannot be read' },
  SOURCES_UNSUPPORTED: { exit: 1, meaning: 'an apt source pith does not read: a URI scheme other than http, https or file, or a flat repository' },
  KEYRING_MISSING: { exit: 1, meaning: "a source's keyring is missing, or Signed-By names something other than a keyring file or key block" },
  KEYRING_INVALID: { exit: 1, meaning: 'a keyring holds no OpenPGP public keys pith can read (a GnuPG keybox must be exported)' },
  RELEASE_NOT_SIGNED: { exit: 1, meaning: 'an InRelease is not a clearsigned message' },
  RELEASE_MALFORMED: { exit: 1, meaning: "an InRelease's signed structure or its fields are not what apt accepts" },
  RELEASE_BAD_SIGNATURE: { exit: 1, meaning: "an InRelease's signatures do not verify: it was altered or corrupted" },
  RELEASE_UNKNOWN_KEY: { exit: 1, meaning: "an InRelease is signed only by keys that are not in the source's keyring" },
  RELEASE_EXPIRED: { exit: 1, meaning: 'an InRelease is past its Valid-Until (offline: the cached copy is; run once online)' },
  RELEASE_FROM_FUTURE: { exit: 1, meaning: "an InRelease's Date or signature is in the future: check the system clock" },
  RELEASE_SUITE_MISMATCH: { exit: 1, meaning: 'an InRelease names a Suite and Codename other than the suite asked for' },
  COMPONENT_MISSING: { exit: 1, meaning: 'a source names a component its Release does not list' },
  ARCHITECTURE_NOT_SERVED: { exit: 1, meaning: 'no source serves an architecture the spec asks for' },
  UNKNOWN_ARCHITECTURE: { exit: 1, meaning: 'a request or lookup names an architecture that was not loaded' },

  // debian/: indexes
  INDEX_MISSING: { exit: 1, meaning: 'a Packages (or Contents) index is not listed in the InRelease, or none of its forms could be fetched' },
  INDEX_SIZE_MISMATCH: { exit: 1, meaning: 'an index does not have the size its verified InRelease lists; nothing was cached' },
  INDEX_HASH_MISMATCH: { exit: 1, meaning: 'an index does not have the SHA256 its verified InRelease lists; nothing was cached' },
  INDEX_CORRUPT: { exit: 1, meaning: 'an index matched its SHA256 but does not decompress' },
  INDEX_MALFORMED: { exit: 1, meaning: 'a Packages stanza lacks a required field' },
  OFFLINE_MISSING: { exit: 1, meaning: '--offline: the cache lacks an index, release or advisory feed that is needed' },

  // debian/: resolving
  INVALID_REQUEST: { exit: 1, meaning: 'a package request is not NAME[:ARCH][=VERSION]' },
  UNKNOWN_PACKAGE: { exit: 1, meaning: 'no package of that name (or no version of it for the architecture) in the loaded indexes' },
  UNKNOWN_VERSION: { exit: 1, meaning: 'the requested version of a package is not in the loaded indexes' },
  VIRTUAL_PACKAGE: { exit: 1, meaning: 'a request names a virtual package with several providers; apt would not choose either' },
  EXCLUDE_REQUESTED: { exit: 1, meaning: 'a package is both requested and excluded' },
  UNSATISFIABLE: { exit: 1, meaning: 'the requested packages cannot be installed together (the message shows the broken chain)' },

  // oci/: the image model, tar, layouts and archives
  OCI_AMBIGUOUS_SOURCE: { exit: 1, meaning: 'a layout or archive holds several images and the location names none of them' },
  OCI_BAD_ANNOTATION: { exit: 1, meaning: 'an annotation value is not a string' },
  OCI_BAD_ARCHIVE: { exit: 1, meaning: 'an image archive is not a well-formed tar (bad header checksum, or it ends early)' },
  OCI_BAD_CONFIG: { exit: 1, meaning: 'an image config names an os other than linux, or an architecture that is not an OCI name' },
  OCI_BAD_DESTINATION: { exit: 1, meaning: 'an image location lacks its path, tag, name or reference' },
  OCI_BAD_DIGEST: { exit: 1, meaning: 'a digest is not "sha256:" and 64 lower-case hex digits' },
  OCI_BAD_EPOCH: { exit: 1, meaning: 'SOURCE_DATE_EPOCH is not a non-negative whole number of seconds' },
  OCI_BAD_HEADER: { exit: 1, meaning: 'a tar header field to write is not a non-negative whole number' },
  OCI_BAD_INDEX: { exit: 1, meaning: "a layout's index.json is missing or not an OCI image index" },
  OCI_BAD_JSON: { exit: 1, meaning: 'a manifest, index or config in an image is not JSON' },
  OCI_BAD_MANIFEST: { exit: 1, meaning: 'a manifest or index is not the shape the OCI spec gives it' },
  OCI_BAD_MTIME: { exit: 1, meaning: "a file's modification time is not a finite number" },
  OCI_BAD_PATH: { exit: 1, meaning: "a layer entry's path is not absolute and normalised" },
  OCI_BAD_REFERENCE: { exit: 1, meaning: 'an image reference or docker-archive name cannot be parsed' },
  OCI_BAD_SYMLINK: { exit: 1, meaning: 'a symlink has an empty target or one with NUL bytes' },
  OCI_BAD_TAG: { exit: 1, meaning: 'a layout tag has characters other than letters, digits and - . _ : @ + /' },
  OCI_BLOB_MISMATCH: { exit: 1, meaning: 'a blob in a layout or archive does not have the digest and size its descriptor names' },
  OCI_DOCKER_ARCHIVE_INDEX: { exit: 1, meaning: 'a multi-platform index cannot be written as a docker-archive, which holds one platform' },
  OCI_DUPLICATE_PATH: { exit: 1, meaning: 'a layer would hold the same path twice' },
  OCI_DUPLICATE_PLATFORM: { exit: 1, meaning: 'an image index would hold two images for one platform' },
  OCI_EMPTY_INDEX: { exit: 1, meaning: 'an image index would hold no image' },
  OCI_GZIP_HEADER: { exit: 1, meaning: "this Node's zlib writes a gzip header other than the fixed one reproducible layers need" },
  OCI_HARDLINK_TARGET: { exit: 1, meaning: 'a hardlink in a layer does not lead to a regular file in the same layer' },
  OCI_LAYER_MEDIA_TYPE: { exit: 1, meaning: 'a layer has a media type pith cannot read or cannot write there (gzip or plain tar only)' },
  OCI_LAYER_MISMATCH: { exit: 1, meaning: "a layer's bytes do not match its digest, or do not decompress to its diff_id" },
  OCI_LAYOUT_CHANGED: { exit: 1, meaning: 'an OCI layout was written by someone else at the same time; nothing was changed' },
  OCI_LAYOUT_NOT_DIR: { exit: 1, meaning: 'an OCI layout path is a file or symlink, not a directory' },
  OCI_MISSING_BLOB: { exit: 1, meaning: 'a blob an image or artifact refers to is not in the layout' },
  OCI_NOT_AN_IMAGE: { exit: 1, meaning: 'an image config does not list one rootfs diff_id per layer' },
  OCI_NOT_A_DOCKER_ARCHIVE: { exit: 1, meaning: 'a docker-archive has no manifest.json, or one listing no image' },
  OCI_NOT_A_LAYOUT: { exit: 1, meaning: 'a directory is not an OCI image layout (no oci-layout file of version 1.0.0)' },
  OCI_NO_PARENT_DIR: { exit: 1, meaning: 'the directory an output is to be written in does not exist' },
  OCI_NO_SUCH_FILE: { exit: 1, meaning: 'an image archive named by a location does not exist' },
  OCI_NO_SUCH_PLATFORM: { exit: 1, meaning: 'an image index has no image for the platform asked for' },
  OCI_NO_SUCH_TAG: { exit: 1, meaning: 'a layout or archive has no image of the tag or name asked for' },
  OCI_UNKNOWN_ARCH: { exit: 1, meaning: 'a Debian architecture has no OCI platform pith knows' },
  OCI_UNKNOWN_TRANSPORT: { exit: 1, meaning: 'an image location starts with none of oci:, oci-archive:, docker-archive:, docker://' },
  OCI_UNSUPPORTED_MANIFEST: { exit: 1, meaning: 'an image manifest or index has a media type pith does not read' },
  SBOM_UNSUPPORTED_ENTRY: { exit: 1, meaning: 'an image layer holds a tar entry type pith cannot read back (device, FIFO…)' },

  // libraries/
  ELF_NOT_ELF: { exit: 1, meaning: 'a file read as a program or library is not ELF' },
  ELF_INVALID: { exit: 1, meaning: 'an ELF file is truncated or malformed' },
  LIBRARY_ARCH_MISMATCH: { exit: 1, meaning: 'a program in files: is built for another architecture than the image' },
  LIBRARY_EXCLUDED: { exit: 1, meaning: "a shared library the spec's files need is shipped only by a package that is left out" },
  LIBRARY_MISSING: { exit: 1, meaning: "the spec's files need shared libraries that no package (or the image) provides" },

  // maintscript/
  SHELL_UNSUPPORTED: { exit: 1, meaning: "a maintainer script uses shell that pith's POSIX-sh reader does not interpret" },

  // registry/
  REGISTRIES_CONF_MISSING: { exit: 1, meaning: 'the registries.conf named by the caller or $CONTAINERS_REGISTRIES_CONF does not exist' },
  REGISTRIES_CONF_UNREADABLE: { exit: 1, meaning: 'a registries.conf file or its drop-in directory cannot be read' },
  REGISTRIES_CONF_INVALID: { exit: 1, meaning: 'a registries.conf is not TOML, or not what containers-registries.conf(5) allows' },
  REGISTRY_BLOCKED: { exit: 1, meaning: 'registries.conf blocks the registry of the reference' },
  REGISTRY_AUTH_FILE: { exit: 1, meaning: 'the credentials file (auth.json) cannot be read or is not a JSON object of credentials' },
  REGISTRY_CREDENTIAL_HELPER: { exit: 1, meaning: 'a docker credential helper is not on PATH, or it failed' },
  REGISTRY_AUTH_CHALLENGE: { exit: 1, meaning: "a registry's token server did not answer with a usable token" },
  REGISTRY_UNAUTHORIZED: { exit: 1, meaning: 'a registry wants credentials pith does not have, or refused them (HTTP 401): pith login' },
  REGISTRY_DENIED: { exit: 1, meaning: 'a registry refused access with the credentials given (HTTP 403)' },
  REGISTRY_NOT_FOUND: { exit: 1, meaning: 'a registry has no such repository, manifest or blob (HTTP 404)' },
  REGISTRY_HTTP: { exit: 1, meaning: 'a registry answered an HTTP status other than the ones expected, or is not a registry' },
  REGISTRY_CONNECTION: { exit: 1, meaning: 'a registry could not be reached: its host name does not resolve (not retried), or connections failed until the retries ran out (plain HTTP only for local or insecure registries)' },
  REGISTRY_BAD_RESPONSE: { exit: 1, meaning: 'a registry sent a response that breaks the distribution API (a bad range, a non-index)' },
  REGISTRY_TOO_LARGE: { exit: 1, meaning: 'a registry sent more bytes than the descriptor or limit allows' },
  REGISTRY_DIGEST_MISMATCH: { exit: 1, meaning: 'a registry sent bytes other than the digest names' },
  REGISTRY_BAD_REFERENCE: { exit: 1, meaning: "a push names a digest other than the image's" },
  REGISTRY_UPLOAD_FAILED: { exit: 1, meaning: 'a blob upload kept failing until the upload sessions ran out' },
  REGISTRY_LOGIN_FAILED: { exit: 1, meaning: 'a registry refused the user and password given to pith login; nothing was saved' },

  // advisories/
  ADVISORY_INVALID: { exit: 1, meaning: 'an advisory feed (OSV or Debian tracker JSON, or a zip of them) cannot be read' },
  ADVISORY_NOT_FOUND: { exit: 1, meaning: 'an --advisories file or directory cannot be read' },

  // lock/
  LOCK_NOT_FOUND: { exit: 1, meaning: 'the lock (next to the spec, or --lock) cannot be read: run pith lock first' },
  LOCK_INVALID: { exit: 1, meaning: 'the lock is not JSON, or not a pith lock of this version' },
  LOCK_STALE: { exit: 3, meaning: 'the lock was made from a different spec (the message lists what changed): re-lock' },

  // fetch/
  DEB_SIZE_MISMATCH: { exit: 1, meaning: 'a downloaded .deb does not have the size pinned in the lock; nothing was cached' },
  DEB_HASH_MISMATCH: { exit: 1, meaning: 'a downloaded .deb does not have the SHA256 pinned in the lock; nothing was cached' },
  PACKAGE_GONE: { exit: 1, meaning: 'a locked version is no longer served by the archive, and no snapshot service (given, or recorded) has it: name one, or update' },
  SNAPSHOT_INVALID: { exit: 1, meaning: 'a snapshot service URL is malformed, or the service answered something other than its JSON API' },

  // assemble/
  ACCOUNTS_INVALID: { exit: 1, meaning: 'an /etc/passwd or /etc/group line that a package ships is malformed' },
  ACCOUNTS_DUPLICATE: { exit: 1, meaning: 'two users (or groups) share a name or id' },
  ACCOUNTS_RUN_AS: { exit: 1, meaning: 'accounts.run-as names a user the image does not define' },
  PATHS_PATTERN: { exit: 1, meaning: 'a paths: glob is not absolute, or contains ..' },
  TIMEZONE_NO_TZDATA: { exit: 1, meaning: 'a time zone is set but the image has no tzdata' },
  TIMEZONE_UNKNOWN: { exit: 1, meaning: "a time zone has no compiled zone file in the image's tzdata" },
  STATUS_NO_CONTROL: { exit: 1, meaning: 'a package has no control file to record in the dpkg database' },
  STATUS_CONTROL_INVALID: { exit: 1, meaning: "a package's control file is not one paragraph with the required fields" },
  STATUS_DUPLICATE: { exit: 1, meaning: "two packages of one name would be recorded in the image's dpkg database" },
  SBOM_BAD_STATUS: { exit: 1, meaning: "an image's dpkg database (status, status.d) cannot be read" },

  // sbom/
  SBOM_UNKNOWN_FORMAT: { exit: 2, meaning: '--sbom names a format other than spdx and cyclonedx, or none' },
  SBOM_UNREADABLE: { exit: 1, meaning: 'an SBOM attached to an image is not an SPDX or CycloneDX JSON document' },
  SBOM_PLATFORM_REQUIRED: { exit: 1, meaning: 'the image is a multi-platform index: an SBOM describes one platform, choose it with --platform' },

  // runtime/: pith run, ps, stop, logs
  RUN_BAD_SIZE: { exit: 2, meaning: 'a size option is not like 64m, 1g or 1048576, or is below its minimum (6m for a memory limit)' },
  RUN_BAD_CAPABILITY: { exit: 2, meaning: '--cap-add or --cap-drop names no Linux capability' },
  RUN_BAD_ENV: { exit: 2, meaning: '-e is not NAME=VALUE or NAME' },
  RUN_BAD_NAME: { exit: 2, meaning: '--name is not letters, digits, _ . - (at most 63, starting with a letter or digit)' },
  RUN_BAD_VOLUME: { exit: 1, meaning: '-v is not HOST:CONTAINER, HOST:CONTAINER:ro or HOST:CONTAINER:rw with an absolute container path, or the host path does not exist' },
  RUN_BAD_WORKDIR: { exit: 1, meaning: "the working directory (--workdir or the image's) is not absolute" },
  RUN_BAD_PATH: { exit: 1, meaning: 'a cache or state path contains a comma, colon or backslash, which an overlay mount cannot name' },
  RUN_NO_COMMAND: { exit: 1, meaning: 'the image has no Entrypoint or Cmd and no command was given after --' },
  RUN_UNKNOWN_USER: { exit: 1, meaning: "the user to run as is not in the image's /etc/passwd" },
  RUN_UNKNOWN_GROUP: { exit: 1, meaning: "the group to run as is not in the image's /etc/group" },
  RUN_UNSAFE_PATH: { exit: 1, meaning: 'an image layer would write outside the container root or through a symlink' },
  RUN_NOT_ROOT: { exit: 1, meaning: 'pith run needs root (pith has no rootless mode)' },
  RUN_TOOL_MISSING: { exit: 1, meaning: 'a tool pith run needs (runc, crun, mount) is not on PATH' },
  RUN_RUNTIME_MISSING: { exit: 1, meaning: 'the OCI runtime of a container (runc or crun) is not on PATH' },
  RUN_MOUNT_FAILED: { exit: 1, meaning: "the container's overlay root could not be mounted" },
  RUN_UMOUNT_FAILED: { exit: 1, meaning: "a container's root could not be unmounted" },
  RUN_START_FAILED: { exit: 1, meaning: 'the OCI runtime failed to start a detached container' },
  RUN_NAME_IN_USE: { exit: 1, meaning: 'a container of that name already exists (pith stop it first)' },
  RUN_NO_SUCH_CONTAINER: { exit: 1, meaning: 'no pith container has that name' },
  RUN_NO_LOG: { exit: 1, meaning: 'the container has no log: only detached containers keep one' },

  // runtime/: pith debug
  DEBUG_UNKNOWN_RELEASE: { exit: 1, meaning: "pith debug --advisories: the image's os-release names no Debian release (or another distribution), so no advisory can be matched" },
  DEBUG_NO_COMMAND: { exit: 2, meaning: 'pith debug --exec without a command after --, or a command without --exec' },
  DEBUG_NOT_ROOT: { exit: 1, meaning: 'pith debug needs root to look into a container' },
  DEBUG_UNKNOWN_TARGET: { exit: 1, meaning: 'no process, pith container, runc, crun, podman or docker container has that name' },
  DEBUG_NOT_RUNNING: { exit: 1, meaning: 'the container to debug is not running' },
  DEBUG_NO_PROCESS: { exit: 1, meaning: 'the process to debug does not exist, or has exited' },
  DEBUG_NOT_PERMITTED: { exit: 1, meaning: "the process's root cannot be read (permission, or a kernel that refuses it)" },
  DEBUG_EXEC_FAILED: { exit: 1, meaning: 'sh and nsenter (util-linux) could not be started for --exec or --shell' },

  // serve/
  SERVE_CONFIG_NOT_FOUND: { exit: 1, meaning: 'the pith serve config (pith-serve.yaml, or --config) cannot be read' },
  SERVE_CONFIG_SYNTAX: { exit: 1, meaning: 'the pith serve config is not valid YAML (the message gives file:line:column)' },
  SERVE_CONFIG_INVALID: { exit: 1, meaning: 'the pith serve config does not match its schema (the message gives file:line:column)' },

  // orchestrate/
  SMOKE_TEST_FAILED: { exit: 1, meaning: "pith update: the updated image failed the spec's test; the lock and outputs are unchanged" },
  ROLLOUT_BAD_IMAGE: { exit: 1, meaning: 'rollout --image is not NAME=REF@sha256:DIGEST' },
  ROLLOUT_RESULTS_INVALID: { exit: 1, meaning: 'a rollout --from file is not what pith update --json prints' },
  ROLLOUT_RESULTS_OVERLAP: { exit: 1, meaning: 'rollout --from results overlap or disagree (a spec in two shards, one image pinned to two digests, shards of different N)' },
  KEY_EXISTS: { exit: 1, meaning: 'pith keygen found a key file already there; it never overwrites one' },
  KEY_INVALID: { exit: 1, meaning: 'a key file is missing or holds no key pith signs or verifies with (ECDSA P-256 PEM, OpenPGP)' },
  KEY_PASSWORD: { exit: 1, meaning: 'a private key is encrypted and PITH_KEY_PASSWORD is unset or does not open it' },
  ATTESTATION_NOT_FOUND: { exit: 1, meaning: 'an image has no attestation of a required predicate type (cosign .att tag, Sigstore bundle referrer)' },
  ATTESTATION_LOCK_MISMATCH: { exit: 1, meaning: "an image's provenance was built from another lock: its digest, an InRelease or a package differs" },
  SIGNATURE_INVALID: { exit: 1, meaning: 'a signature or attestation does not verify: another key, a tampered payload, or another image' },
  SIGNATURE_NOT_FOUND: { exit: 1, meaning: 'an image has no signature in the expected form (cosign .sig tag, Sigstore bundle referrer)' },
  SIGNATURE_WRONG_IMAGE: { exit: 1, meaning: 'a signature or attestation verifies but is about another image: another digest, repository or referrer subject' },
  KEYLESS_NOT_CONFIGURED: { exit: 1, meaning: 'keyless signing or verification lacks a setting pith has no default for: the Fulcio or Rekor URL (PITH_FULCIO_URL, PITH_REKOR_URL) or the trusted root (PITH_TRUSTED_ROOT)' },
  KEYLESS_SERVICE_FAILED: { exit: 1, meaning: 'the Fulcio gave no certificate or the Rekor did not log the signature: the message names the URL and what it answered' },
  OIDC_TOKEN_MISSING: { exit: 1, meaning: 'keyless signing found no OIDC identity token: none given, SIGSTORE_ID_TOKEN unset, and no CI token to request' },
  OIDC_TOKEN_INVALID: { exit: 1, meaning: 'the OIDC identity token is not a JWT with a subject (sub, or a verified email)' },
  TRUSTED_ROOT_INVALID: { exit: 1, meaning: 'a Sigstore trusted root file is unreadable or not a TrustedRoot (JSON with certificateAuthorities and tlogs)' },
  CERTIFICATE_IDENTITY_MISMATCH: { exit: 1, meaning: "a keyless signature verifies but its certificate names another identity or OIDC issuer than the one required" },
  CERTIFICATE_INVALID: { exit: 1, meaning: 'a keyless signature has no certificate, or its certificate does not chain to the trusted root or was not valid when it was logged (expired)' },
  TLOG_PROOF_MISSING: { exit: 1, meaning: 'a keyless signature has no transparency-log entry, or its entry no inclusion proof or signed timestamp' },
  TLOG_PROOF_INVALID: { exit: 1, meaning: "a keyless signature's transparency-log inclusion proof or signed timestamp does not verify with the trusted root's Rekor keys" },
  ROLLOUT_UNSUPPORTED: { exit: 1, meaning: 'a file to pin needs an edit pith does not make (e.g. a key added to a flow-style map)' },

  // serve/: the fleet store
  SERVE_DATABASE_INVALID: { exit: 1, meaning: 'a --database value is neither a directory (PGlite) nor a postgres:// or postgresql:// URL' },
  SERVE_DATABASE_UNAVAILABLE: { exit: 1, meaning: 'the store cannot be opened: its directory cannot be made or read, or the PostgreSQL server refuses the connection (the message names the directory or the URL without its password)' },
  SERVE_DATABASE_BUSY: { exit: 1, meaning: 'a PGlite store directory is open in another process (its pid is named); one process at a time, or use a PostgreSQL server' },
  SERVE_SCHEMA_NEWER: { exit: 1, meaning: 'the store was migrated by a newer pith: its schema version is above the ones this pith knows' },
  SERVE_LISTEN_INVALID: { exit: 1, meaning: 'a --listen (or listen:) value is not HOST:PORT' },
  SERVE_LISTEN_FAILED: { exit: 1, meaning: 'pith serve cannot listen on its address (the port is taken, or the address is not this machine\'s)' },
  SERVE_TOKEN_REQUIRED: { exit: 1, meaning: 'pith serve listens on an address other than loopback and PITH_SERVE_TOKEN is not set, or is shorter than 16 characters' },
  SERVE_SNAPSHOT_INVALID: { exit: 1, meaning: 'a fleet snapshot handed to the store contradicts itself (a digest twice, a finding for an image it does not list, a time that is not ISO 8601)' },
} as const satisfies Record<string, { exit: ExitStatus; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** The status the CLI exits with for an error of this code. */
export function exitStatusOf(code: ErrorCode): ExitStatus {
  return ERROR_CATALOGUE[code].exit;
}

export class PithError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PithError';
    this.code = code;
    this.details = options?.details;
  }
}

export function isPithError(e: unknown, code?: ErrorCode): e is PithError {
  return e instanceof PithError && (code === undefined || e.code === code);
}

/** An error as one line of a log or a record: `CODE: message` for a PithError, else its message. */
export function errorLine(e: unknown): string {
  return isPithError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
}
