/**
 * pith never runs a maintainer script. This lists every one that was therefore not run, per package, and names
 * the declarative replacement that covers it — or null, so a reader sees exactly what an image may be missing.
 * The table is small on purpose: a script is marked covered only where pith demonstrably does its job.
 */

import { readContent, type Content } from '../fs/content.ts';
import { compareStrings } from '../order.ts';

export const MAINTAINER_SCRIPTS = ['preinst', 'config', 'postinst', 'prerm', 'postrm', 'triggers'] as const;
export type MaintainerScript = (typeof MAINTAINER_SCRIPTS)[number];

export interface ScriptReportEntry {
  package: string;
  script: MaintainerScript;
  /** The replacement that covers what the script would have done; null when nothing does. */
  covered: string | null;
  /** For a script not covered: what pith did replace of it, and what it did not. */
  note?: string;
}

export const NOT_NEEDED_REMOVAL = 'not needed: prerm and postrm run only on removal or upgrade, and an image is rebuilt, never changed in place';
export const NOT_NEEDED_LDCONFIG = 'not needed: ld.so finds libraries in the default multiarch directories without /etc/ld.so.cache';
export const NOT_NEEDED_MAINTSCRIPT_HELPER = 'not needed: dpkg-maintscript-helper only moves or removes files left by older versions, on upgrade';
export const ACCOUNTS_BY_PITH = 'accounts written by pith (/etc/passwd and /etc/group from base-passwd\'s master files, plus pith\'s)';

/** Coverage pith always provides, by package and script (the build's other steps add theirs through `covered`). */
const BUILT_IN: Record<string, Partial<Record<MaintainerScript, string>>> = {
  'base-passwd': { preinst: ACCOUNTS_BY_PITH, postinst: ACCOUNTS_BY_PITH },
  // libc-bin's postinst and trigger run ldconfig to rebuild the cache.
  'libc-bin': { postinst: NOT_NEEDED_LDCONFIG, triggers: NOT_NEEDED_LDCONFIG },
};

const text = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');

/** A triggers file that only activates ldconfig, as dh_makeshlibs writes for every shared-library package. */
function onlyLdconfig(body: string): boolean {
  const lines = body.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  return lines.length > 0 && lines.every((l) => /^activate(-noawait|-await)?\s+ldconfig$/.test(l));
}

/**
 * A script whose every command is a dpkg-maintscript-helper call (or the shell around it, as debhelper writes it):
 * rm_conffile, mv_conffile, symlink_to_dir and dir_to_symlink all act only when upgrading from an older version.
 */
function onlyMaintscriptHelper(body: string): boolean {
  const commands = body
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  let helper = false;
  for (const l of commands) {
    if (/^dpkg-maintscript-helper\s+(rm_conffile|mv_conffile|symlink_to_dir|dir_to_symlink)\s/.test(l)) {
      helper = true;
      continue;
    }
    if (/^(set -e|exit 0|fi|esac|;;|then|else|\*\)|[a-z|-]+\)|case "\$1" in|if \[ "\$1" = "?[a-z-]+"? \]( \|\| \[ "\$1" = "?[a-z-]+"? \])*; then)$/.test(l)) continue;
    return false;
  }
  return helper;
}

/**
 * `covered` maps a package name (its preinst, config, postinst and triggers) or `package/script` (that one only) to the replacement the
 * build applied, e.g. `{ 'ca-certificates': 'CA bundle built by pith (146 certificates)', tzdata: '/etc/localtime
 * written by pith' }`; it takes precedence over the built-in table. Sorted by package, then script, whatever the
 * input order. `notes` (by `package/script`) says what was replaced of a script that stays uncovered.
 */
export function scriptReport(
  packages: Array<{ name: string; controlFiles: Map<string, Content> }>,
  covered: Record<string, string> = {},
  notes: Record<string, string> = {},
): ScriptReportEntry[] {
  const out: ScriptReportEntry[] = [];
  for (const p of [...packages].sort((a, b) => compareStrings(a.name, b.name))) {
    for (const script of MAINTAINER_SCRIPTS) {
      const bytes = p.controlFiles.get(script);
      if (bytes === undefined) continue;
      const body = text(readContent(bytes));
      const removal = script === 'prerm' || script === 'postrm';
      // A package-wide replacement covers installing, not removing: prerm/postrm get their own reason.
      let why: string | null = covered[`${p.name}/${script}`] ?? (removal ? NOT_NEEDED_REMOVAL : null) ?? covered[p.name] ?? BUILT_IN[p.name]?.[script] ?? null;
      if (why === null) {
        if (script === 'triggers' && onlyLdconfig(body)) why = NOT_NEEDED_LDCONFIG;
        else if (script !== 'triggers' && onlyMaintscriptHelper(body)) why = NOT_NEEDED_MAINTSCRIPT_HELPER;
      }
      const note = why === null ? notes[`${p.name}/${script}`] : undefined;
      out.push(note === undefined ? { package: p.name, script, covered: why } : { package: p.name, script, covered: why, note });
    }
  }
  return out;
}
