/**
 * The CA bundle `/etc/ssl/certs/ca-certificates.crt`, built the way ca-certificates' postinst gets it built on a
 * fresh install — without running it: the postinst writes `/etc/ca-certificates.conf` listing every certificate
 * (debconf's default trusts them all), sorted, and `update-ca-certificates` concatenates them in that order, then
 * those under /usr/local/share/ca-certificates. Byte-identical to the real thing (the test runs it).
 *
 * Not written: the per-certificate `*.pem` links and `openssl rehash` hash links in /etc/ssl/certs (every TLS
 * stack in an image reads the bundle: Go, OpenSSL through cert.pem below, GnuTLS, NSS via p11-kit are configured
 * for the file), and `/etc/ca-certificates.conf` itself, which only update-ca-certificates reads.
 */
import type { FsTree } from '../fs/tree.ts';

export const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const CERTS_DIR = '/usr/share/ca-certificates';
const LOCAL_CERTS_DIR = '/usr/local/share/ca-certificates';
/** OpenSSL's default CA file (OPENSSLDIR is /usr/lib/ssl in Debian). */
const OPENSSL_CERT_PEM = '/usr/lib/ssl/cert.pem';

export interface CaBundle {
  /** Certificates concatenated into the bundle. */
  certificates: number;
  bundle: string;
  /** Links pith made so a library finds the bundle (see below). */
  links: string[];
}

/** `sort` in the C locale: byte order of the UTF-8 names (a few Mozilla names are not ASCII). */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Builds the bundle when /usr/share/ca-certificates holds certificates; null (and nothing written) otherwise.
 *
 * Which certificates, and in what order, follows the scripts exactly: the postinst's list is `find -type f -name
 * '*.crt'` (regular files only: a symlinked .crt is not listed) relative to /usr/share/ca-certificates, `sort`ed —
 * byte order, as dpkg runs maintainer scripts without a locale in a fresh image; update-ca-certificates then appends
 * each (`sed '$a\'`, which adds a final newline only where one is missing and leaves an empty file empty), then every
 * `*.crt` under /usr/local/share/ca-certificates (`find -L`, so links count there), sorted.
 *
 * When libssl3 is in the image without the `openssl` package (pith leaves that out: only ca-certificates' postinst
 * used it), `/usr/lib/ssl/cert.pem` — OpenSSL's default CA file, which the openssl package ships as a link to the
 * bundle — would be missing and libssl would trust nothing; pith makes the same link the openssl package would.
 */
export function buildCaBundle(tree: FsTree, options: { sourceDateEpoch: number }): CaBundle | null {
  const mtime = options.sourceDateEpoch;
  const entries = tree.entries();
  const shipped = entries
    .filter((e) => (e.type === 'file' || e.type === 'hardlink') && e.path.startsWith(CERTS_DIR + '/') && e.path.endsWith('.crt'))
    .map((e) => e.path.slice(CERTS_DIR.length + 1))
    .sort(byteOrder);
  if (shipped.length === 0) return null;
  const local = entries
    .filter((e) => e.path.startsWith(LOCAL_CERTS_DIR + '/') && e.path.endsWith('.crt'))
    .filter((e) => {
      const r = tree.resolve(e.path);
      return r?.type === 'file' || r?.type === 'hardlink';
    })
    .map((e) => e.path)
    .sort(byteOrder);

  const parts: Uint8Array[] = [];
  const append = (path: string) => {
    const content = tree.readFile(path)!;
    parts.push(content);
    if (content.byteLength > 0 && content[content.byteLength - 1] !== 0x0a) parts.push(new Uint8Array([0x0a]));
  };
  for (const rel of shipped) append(`${CERTS_DIR}/${rel}`);
  for (const path of local) append(path);
  const content = new Uint8Array(Buffer.concat(parts));

  if (tree.get(CA_BUNDLE) !== undefined) tree.remove(CA_BUNDLE);
  for (const dir of ['/etc', '/etc/ssl', '/etc/ssl/certs']) {
    if (tree.get(dir) === undefined) tree.add({ type: 'dir', path: dir, mode: 0o755, uid: 0, gid: 0, mtime });
  }
  tree.add({ type: 'file', path: CA_BUNDLE, mode: 0o644, uid: 0, gid: 0, mtime, content });

  const links: string[] = [];
  const hasLibssl = entries.some((e) => /^\/usr\/lib\/[^/]+\/libssl\.so\.3$/.test(e.path));
  if (hasLibssl && tree.get(OPENSSL_CERT_PEM) === undefined && tree.resolve('/usr/lib/ssl')?.type !== 'file') {
    if (tree.get('/usr/lib/ssl') === undefined) tree.add({ type: 'dir', path: '/usr/lib/ssl', mode: 0o755, uid: 0, gid: 0, mtime });
    tree.add({ type: 'symlink', path: OPENSSL_CERT_PEM, target: CA_BUNDLE, uid: 0, gid: 0, mtime });
    links.push(OPENSSL_CERT_PEM);
  }
  return { certificates: shipped.length + local.length, bundle: CA_BUNDLE, links };
}
