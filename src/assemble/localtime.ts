/**
 * The image's time zone, as tzdata's postinst would set it: `/etc/localtime` a symlink to
 * `/usr/share/zoneinfo/<zone>` (absolute, exactly the link the postinst makes with `ln -nsf`) and `/etc/timezone`
 * holding the name.
 */
import { PithError } from '../errors.ts';
import type { FsTree } from '../fs/tree.ts';

const ZONEINFO = '/usr/share/zoneinfo';
const TZIF = [0x54, 0x5a, 0x69, 0x66]; // "TZif"
/** Without /etc/localtime glibc, musl and Go all use UTC, so these need no tzdata. */
const UTC_NAMES = new Set(['UTC', 'Etc/UTC']);

export interface TimezoneResult {
  timezone: string;
  /** What /etc/localtime points to. */
  localtime: string;
}

/**
 * Sets the zone when tzdata is installed (`/usr/share/zoneinfo` is in the tree). Returns null without tzdata: for
 * UTC that is already what every libc does, so the caller just reports that tzdata is not in; any other zone then
 * cannot be honoured and is a TIMEZONE_NO_TZDATA error. A name that is not a compiled zone file (unknown, a path
 * that climbs out, a data file like `zone.tab`) is a TIMEZONE_UNKNOWN error naming it.
 */
export function applyTimezone(tree: FsTree, tz = 'UTC', options: { sourceDateEpoch: number }): TimezoneResult | null {
  const mtime = options.sourceDateEpoch;
  if (tree.resolve(ZONEINFO)?.type !== 'dir') {
    if (UTC_NAMES.has(tz)) return null;
    throw new PithError('TIMEZONE_NO_TZDATA', `timezone ${JSON.stringify(tz)}: expected tzdata in the image to provide ${ZONEINFO}/${tz}, found no ${ZONEINFO} (add tzdata to packages)`, {
      details: { timezone: tz },
    });
  }
  const unknown = (found: string) =>
    new PithError('TIMEZONE_UNKNOWN', `timezone ${JSON.stringify(tz)}: expected a zone name like "Europe/Paris" with a compiled zone file under ${ZONEINFO}, found ${found}`, {
      details: { timezone: tz },
    });
  if (!/^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/.test(tz)) throw unknown('a name that is not a zone path');
  const content = tree.readFile(`${ZONEINFO}/${tz}`);
  if (content === undefined) throw unknown(`no such file in tzdata`);
  if (!TZIF.every((b, i) => content[i] === b)) throw unknown('a file that is not TZif zone data');

  const localtime = `${ZONEINFO}/${tz}`;
  for (const p of ['/etc/localtime', '/etc/timezone']) if (tree.get(p) !== undefined) tree.remove(p);
  if (tree.get('/etc') === undefined) tree.add({ type: 'dir', path: '/etc', mode: 0o755, uid: 0, gid: 0, mtime });
  tree.add({ type: 'symlink', path: '/etc/localtime', target: localtime, uid: 0, gid: 0, mtime });
  tree.add({ type: 'file', path: '/etc/timezone', mode: 0o644, uid: 0, gid: 0, mtime, content: new Uint8Array(Buffer.from(tz + '\n')) });
  return { timezone: tz, localtime };
}
