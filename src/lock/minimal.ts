/**
 * Minimal by default. pith never runs maintainer scripts, so what exists only to run them is left out of a spec's
 * closure (Wolfi makes the same cut by splitting packages). Each drop is recorded in the lock with its reason;
 * the spec's `keep:` brings a package back, and a package the spec asks for by name is never dropped.
 * `pith resolve` does not apply these: it always shows apt's own closure.
 */

/** Packages that exist to run or serve maintainer scripts. */
export const SCRIPT_ONLY_PACKAGES: Readonly<Record<string, string>> = {
  debconf: 'debconf asks maintainer-script questions; pith runs no maintainer scripts',
  cdebconf: 'cdebconf asks maintainer-script questions; pith runs no maintainer scripts',
  dpkg: 'dpkg installs packages and runs their scripts; an image is never patched in place',
  adduser: 'adduser creates accounts from maintainer scripts; pith writes /etc/passwd and /etc/group itself',
  'init-system-helpers': 'init-system-helpers registers services from maintainer scripts; a container has no init',
  ucf: 'ucf merges configuration files from maintainer scripts',
  'install-info': 'install-info updates the info directory from maintainer scripts; info pages are trimmed anyway',
  'lsb-base': 'lsb-base serves init scripts; a container has no init',
};

/**
 * Dependencies a package has only for its maintainer scripts: the dependency goes unless something else needs
 * it. Small and curated: every entry names what the script does with it.
 */
export const SCRIPT_ONLY_DEPENDENCIES: ReadonlyArray<{ from: string; to: string; reason: string }> = [
  {
    from: 'ca-certificates',
    to: 'openssl',
    reason: "ca-certificates needs openssl only for update-ca-certificates in its postinst; pith builds the CA bundle itself",
  },
];

/** The exclusions and ignored dependencies a spec gets by default, after `keep` and the spec's own requests. */
export function minimalDefaults(requested: string[], keep: string[]): {
  exclude: Array<{ name: string; reason: string }>;
  ignoreDependencies: Array<{ from: string; to: string; reason: string }>;
} {
  const spared = new Set([...requested, ...keep].map((p) => p.replace(/[:=].*$/, '')));
  return {
    exclude: Object.entries(SCRIPT_ONLY_PACKAGES)
      .filter(([name]) => !spared.has(name))
      .map(([name, reason]) => ({ name, reason })),
    ignoreDependencies: SCRIPT_ONLY_DEPENDENCIES.filter((d) => !spared.has(d.to)),
  };
}
