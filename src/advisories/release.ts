/**
 * Which Debian release an image is, in the two names the advisory feeds use: OSV's ecosystem (`Debian:12`) and the
 * Security Tracker's codename (`bookworm`). `pith check` knows it from a lock's base-files version, `pith debug`
 * from a running image's os-release; both come here so that they name the same release the same way.
 */

export interface DebianRelease {
  /** OSV ecosystem: `Debian:<major>`, or `Debian` when only a codename without a number is known (sid). */
  ecosystem: string;
  /** Tracker release codename. */
  codename: string;
}

/** Debian's numbered releases; testing has a number before its release, sid never does. */
const CODENAMES: Record<string, string> = { '10': 'buster', '11': 'bullseye', '12': 'bookworm', '13': 'trixie', '14': 'forky', '15': 'duke' };

/**
 * The release from a version (`12`, `12.11`, base-files' `12.4+deb12u5`: the leading number is the major) and/or
 * a codename; each fills in the other through Debian's table. Undefined when neither names a release.
 */
export function debianRelease(facts: { version?: string; codename?: string }): DebianRelease | undefined {
  const codename = facts.codename?.trim().toLowerCase() || undefined;
  const major = /^(\d+)/.exec(facts.version?.trim() ?? '')?.[1] ?? Object.entries(CODENAMES).find(([, c]) => c === codename)?.[0];
  if (major === undefined && codename === undefined) return undefined;
  return { ecosystem: major === undefined ? 'Debian' : `Debian:${major}`, codename: codename ?? CODENAMES[major!] ?? major! };
}

/**
 * A running or stored image's release from its os-release (VERSION_ID, VERSION_CODENAME), else /etc/debian_version:
 * testing and sid have no VERSION_ID (their debian_version reads `trixie/sid`), older images no codename. Undefined
 * for another distribution (os-release ID), whose numbers and codenames are not Debian's (Ubuntu's 22.04 "jammy").
 */
export function osRelease(os: { id?: string; versionId?: string; versionCodename?: string; debianVersion?: string }): DebianRelease | undefined {
  if (os.id !== undefined && os.id !== 'debian') return undefined;
  const dv = os.debianVersion?.trim();
  const dvCodename = /^([a-z]+)\/sid$/.exec(dv ?? '')?.[1];
  return debianRelease({ version: os.versionId ?? (dvCodename ? undefined : dv), codename: os.versionCodename ?? dvCodename });
}
