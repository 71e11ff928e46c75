#!/usr/bin/env bash
# Installs the Debian packages pith's tests use as real components and oracles. Run as root (or with sudo).
# Keep this the only list: .ci/run calls it, and the README names it for contributors.
set -euo pipefail
packages=(
  apt          # apt-get -s: the resolver's oracle; apt-helper
  dpkg         # dpkg --compare-versions: the version-ordering oracle; dpkg-deb builds fixture .debs;
               # update-alternatives: the oracle for the alternatives pith writes
  xz-utils     # xz: compresses the fixture archive's Packages.xz
  gzip
  zstd         # compresses the hand-made .debs' zstd members (test/debian/deb.test.ts)
  ca-certificates  # update-ca-certificates: the CA bundle's oracle (test/build/certificates.test.ts)
  openssl      # openssl rehash, which update-ca-certificates runs; openssl req makes test certificates
  debian-archive-keyring  # the default keyring for the machine's apt sources
  skopeo       # skopeo inspect: the oracle for oci:, oci-archive: and docker-archive: outputs
  umoci        # umoci unpack --rootless: unpacks our layouts into a rootfs the tests check
  runc         # runs the built images for real
  gcc          # compiles the static test program the build tests put into an image
  libc6-dev    # libc.a for gcc -static
  # The examples run under every runtime pith targets (test/integration/examples.test.ts, test/fixtures/runtimes.ts),
  # started as DESIGN.md's table says. Their Depends suffice; no Recommends is needed: podman runs rootful with
  # the vfs driver and no network (no fuse-overlayfs, slirp4netns, uidmap, netavark), dockerd with vfs, no iptables
  # and no bridge (no apparmor here, no cgroupfs-mount), and qemu-user is called directly (no binfmt-support).
  crun         # runs the unpacked bundle too (in a private mount namespace: see test/fixtures/runtimes.ts)
  podman       # podman run oci-archive:… (with --runtime runc)
  docker.io    # dockerd + its docker client: docker load of the docker-archive, docker run
  qemu-user-static  # qemu-aarch64-static runs the arm64 image's entrypoint from its unpacked rootfs
  libssl-dev   # OpenSSL headers: examples/base/hello.c and the library-closure tests link libssl dynamically
  binutils     # readelf: the ELF reader's oracle (test/build/elf.test.ts)
  bsdutils     # script: runs pith build on a pseudo-terminal to see its progress bars
  tar          # unpacks real .debs for the update-alternatives oracle (test/build/alternatives.test.ts)
  docker-registry  # the real registry push, pull and copy run against (test/fixtures/registry.ts)
  apache2-utils    # htpasswd -B: bcrypt users for the registry's basic-auth set-up
  util-linux   # nsenter (pith debug --exec), setpriv (the not-root errors of test/runtime/run.test.ts), unshare (crun)
  zip          # zips OSV records, as OSV publishes its exports (test/update/check.test.ts)
  gpg          # gpg --gen-key/--export: the OpenPGP keys of the simple-signing tests, and skopeo --sign-by's signer
  gpg-agent    # holds the secret keys gpg makes and signs with
  time         # /usr/bin/time -f %M: peak resident memory of a build with a layer over 2 GiB (test/orchestrate/large.test.ts)
  postgresql-15    # the PostgreSQL server pith serve's store runs on besides PGlite (test/serve/store.test.ts, bench/serve.ts,
                   # started by test/fixtures/postgres.ts); its cluster is the test's own, none is created at install
)
sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"
