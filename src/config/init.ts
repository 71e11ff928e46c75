/**
 * `pith init`: a commented starter spec, named after its directory, written where there is none yet.
 */
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { writeFileAtomic } from '../cache/store.ts';
import { PithError } from '../errors.ts';
import { SPEC_FILE_NAMES } from './spec.ts';

/** The starter spec: every v1 field, commented, so a new user sees what a spec can say. */
export function starterSpec(name: string): string {
  return `# pith.yaml — see the README for every field. Build with: pith build pith.yaml
name: ${name}

# The archive: by default this machine's apt sources. Name one explicitly to build elsewhere the same way:
# archive:
#   sources:
#     - uri: http://127.0.0.1:8080/debian
#       suites: [bookworm, bookworm-updates]
#       components: [main]
#   keyring: /usr/share/keyrings/debian-archive-keyring.gpg

# architectures: [amd64, arm64]   # default: this machine's

# Debian packages; their dependencies are resolved as apt would, without Essential userland.
packages:
  - ca-certificates
  - tzdata

# exclude:                 # drop a package and what only it pulled in (recorded in the lock)
#   - name: perl-base
#     reason: nothing here runs perl
# keep: [init-system-helpers]   # bring back a package left out by default

# Your program, from this directory into the image:
# files:
#   - from: ./app
#     to: /usr/local/bin/app
#     mode: "0755"
# libraries: auto          # the packages shipping your program's shared libraries join the lock (check: verify only; off)

# accounts:                # root, nonroot (65532) and nobody always exist
#   users:
#     - { name: app, uid: 10001 }
#   run-as: nonroot

# entrypoint: [/usr/local/bin/app]
# cmd: []
# env: { LANG: C.UTF-8 }
# workdir: /home/nonroot
# timezone: Europe/Paris     # /etc/localtime when tzdata is in (default UTC)
# expose: [8080]
# labels: { org.opencontainers.image.source: https://example.invalid/app }
# paths:
#   exclude: [/usr/share/zoneinfo/right/**]
#   keep: [/usr/share/doc/**]
# layers: { budget: 20 }
`;
}

/** A spec name (lower-case letters, digits, `.`, `_`, `-`, starting with a letter or digit) from a directory name. */
export function specNameFor(dir: string): string {
  return basename(resolve(dir)).toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '') || 'image';
}

/** Writes `DIR/pith.yaml` (writeFileAtomic creates DIR) and returns its path; an existing spec is never overwritten. */
export async function initSpec(dir: string): Promise<string> {
  const target = resolve(dir);
  const path = join(target, SPEC_FILE_NAMES[0]);
  if (existsSync(path)) throw new PithError('SPEC_EXISTS', `${path}: expected no spec there, found one; pith init never overwrites`);
  await writeFileAtomic(path, starterSpec(specNameFor(target)));
  return path;
}
