import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildCaBundle, CA_BUNDLE } from '../../src/assemble/certificates.ts';
import { readDeb } from '../../src/debian/deb.ts';
import type { FsEntry } from '../../src/fs/entry.ts';
import { FsTree } from '../../src/fs/tree.ts';
import { missingTools } from '../fixtures/apt.ts';

const EPOCH = 1_700_000_000;
const scratch = mkdtempSync(join(tmpdir(), 'pith-certs-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const file = (path: string, content: string): FsEntry => ({ type: 'file', path, mode: 0o644, uid: 0, gid: 0, mtime: 1, content: new Uint8Array(Buffer.from(content)) });
const bundle = (tree: FsTree) => Buffer.from(tree.readFile(CA_BUNDLE)!).toString('utf8');

describe('buildCaBundle', () => {
  it('does nothing without certificates', () => {
    const tree = FsTree.mergedUsr();
    tree.add(file('/usr/share/ca-certificates/README', 'no certs'), 'x');
    assert.equal(buildCaBundle(tree, { sourceDateEpoch: EPOCH }), null);
    assert.equal(tree.get(CA_BUNDLE), undefined);
  });

  it('concatenates in byte order, adds a missing final newline, skips symlinked .crt, appends local certificates, whatever the input order', () => {
    const items: FsEntry[] = [
      file('/usr/share/ca-certificates/mozilla/b.crt', 'B\n'),
      file('/usr/share/ca-certificates/mozilla/A.crt', 'A-no-newline'),
      file('/usr/share/ca-certificates/mozilla/Ő.crt', 'O\n'),
      file('/usr/share/ca-certificates/mozilla/empty.crt', ''),
      file('/usr/share/ca-certificates/other/z.crt', 'Z\n'),
      file('/usr/share/ca-certificates/mozilla/notes.txt', 'ignored\n'),
      { type: 'symlink', path: '/usr/share/ca-certificates/mozilla/link.crt', target: 'b.crt', uid: 0, gid: 0, mtime: 1 },
      file('/usr/local/share/ca-certificates/corp.crt', 'CORP'),
    ];
    const a = FsTree.mergedUsr();
    const b = FsTree.mergedUsr();
    for (const e of items) a.add(e, 'ca-certificates');
    for (const e of [...items].reverse()) b.add(e, 'ca-certificates');
    const ra = buildCaBundle(a, { sourceDateEpoch: EPOCH });
    buildCaBundle(b, { sourceDateEpoch: EPOCH });
    assert.deepEqual(ra, { certificates: 6, bundle: CA_BUNDLE, links: [] });
    assert.equal(bundle(a), 'A-no-newline\nB\nO\nZ\nCORP\n');
    assert.deepEqual(a.entries(), b.entries());
    assert.deepEqual(a.get(CA_BUNDLE), { ...file(CA_BUNDLE, bundle(a)), mtime: EPOCH });
  });

  it('links OpenSSL\'s default CA file to the bundle when libssl3 is in without the openssl package', () => {
    const tree = FsTree.mergedUsr();
    tree.add(file('/usr/share/ca-certificates/mozilla/a.crt', 'A\n'), 'ca-certificates');
    tree.add(file('/usr/lib/x86_64-linux-gnu/libssl.so.3', '\x7fELF'), 'libssl3');
    assert.deepEqual(buildCaBundle(tree, { sourceDateEpoch: EPOCH })!.links, ['/usr/lib/ssl/cert.pem']);
    assert.equal(Buffer.from(tree.readFile('/usr/lib/ssl/cert.pem')!).toString(), 'A\n');

    const withOpenssl = FsTree.mergedUsr();
    withOpenssl.add(file('/usr/share/ca-certificates/mozilla/a.crt', 'A\n'), 'ca-certificates');
    withOpenssl.add(file('/usr/lib/x86_64-linux-gnu/libssl.so.3', '\x7fELF'), 'libssl3');
    withOpenssl.add({ type: 'symlink', path: '/usr/lib/ssl/cert.pem', target: '/etc/ssl/certs/ca-certificates.crt', uid: 0, gid: 0, mtime: 1 }, 'openssl');
    assert.deepEqual(buildCaBundle(withOpenssl, { sourceDateEpoch: EPOCH })!.links, []);
    assert.equal(withOpenssl.owner('/usr/lib/ssl/cert.pem'), 'openssl');
  });

  const skip = missingTools({ 'apt-get': 'apt', 'dpkg-deb': 'dpkg', 'update-ca-certificates': 'ca-certificates', openssl: 'openssl' });
  it('is byte-identical to update-ca-certificates run on the real ca-certificates package', { skip }, async (t) => {
    const dl = spawnSync('apt-get', ['download', 'ca-certificates'], { cwd: scratch, encoding: 'utf8' });
    if (dl.status !== 0) {
      if (process.env.PITH_REQUIRE_INTEGRATION === '1') assert.fail(`apt-get download ca-certificates failed: ${dl.stderr}`);
      return t.skip(`apt-get download ca-certificates failed (offline?): ${dl.stderr.trim().split('\n').pop()}`);
    }
    const debName = readdirSync(scratch).find((f) => f.startsWith('ca-certificates_') && f.endsWith('.deb'))!;
    const debPath = join(scratch, debName);

    // The oracle: unpack with dpkg-deb, write /etc/ca-certificates.conf with the postinst's own pipeline (fed the
    // list its config script computes, all trusted as on a fresh install), then run the real update-ca-certificates.
    const root = join(scratch, 'root');
    const ctl = join(scratch, 'control');
    assert.equal(spawnSync('dpkg-deb', ['-x', debPath, root]).status, 0);
    assert.equal(spawnSync('dpkg-deb', ['-e', debPath, ctl]).status, 0);
    const config = readFileSync(join(ctl, 'config'), 'utf8');
    const certsList = /^CERTS_LIST="([^"]*)"/m.exec(config)?.[1];
    assert.ok(certsList, 'the config script lists the certificates');
    const script = `
      set -e
      cd "$ROOT/usr/share/ca-certificates"
      crts=$( (find . -type f -name '*.crt' -print | sed -e 's/^\\.\\///'; echo "$CERTS_LIST" | tr ',' '\\n' | sed -e 's/^[[:space:]]*//') | sort | uniq)
      list=$(echo "$crts" | paste -sd, -)
      { sed -n '/ca-certificates.conf <<EOF/,/^EOF/p' "$CTL/postinst" | sed -e '1d' -e '$d'
        (echo $list | tr ',' '\\n'; echo $list | tr ',' '\\n') | sed -e 's/^[[:space:]]*//' | sort | uniq -c |
          sed -e 's/^[[:space:]]*2[[:space:]]*//' -e 's/^[[:space:]]*1[[:space:]]*/!/'
      } > "$ROOT/etc/ca-certificates.conf"
      mkdir -p "$ROOT/usr/local/share/ca-certificates"
      /usr/sbin/update-ca-certificates --certsconf "$ROOT/etc/ca-certificates.conf" --certsdir "$ROOT/usr/share/ca-certificates" \\
        --localcertsdir "$ROOT/usr/local/share/ca-certificates" --etccertsdir "$ROOT/etc/ssl/certs" --hooksdir "$ROOT/no-hooks"
    `;
    const run = spawnSync('sh', ['-c', script], { env: { ...process.env, ROOT: root, CTL: ctl, CERTS_LIST: certsList, LC_ALL: 'C' }, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const conf = readFileSync(join(root, 'etc/ca-certificates.conf'), 'utf8');
    assert.ok(!/^!/m.test(conf), 'a fresh install trusts every certificate');
    writeFileSync(join(scratch, "conf.txt"), conf);
    const expected = readFileSync(join(root, 'etc/ssl/certs/ca-certificates.crt'));

    const deb = await readDeb(new Uint8Array(readFileSync(debPath)), debName);
    const tree = FsTree.mergedUsr();
    for (const e of deb.entries) tree.add(e, 'ca-certificates');
    const result = buildCaBundle(tree, { sourceDateEpoch: EPOCH })!;
    const ours = tree.readFile(CA_BUNDLE)!;
    assert.equal(result.certificates, conf.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length);
    assert.ok(result.certificates > 100);
    assert.ok(Buffer.from(ours).equals(expected), `bundle differs from update-ca-certificates' (${ours.byteLength} vs ${expected.byteLength} bytes)`);
  });

  it('writes a fresh certificate (no trailing newline) the way update-ca-certificates does', { skip: missingTools({ 'update-ca-certificates': 'ca-certificates', openssl: 'openssl' }) }, () => {
    const root = join(scratch, 'synthetic');
    for (const d of ['etc/ssl/certs', 'usr/share/ca-certificates/x', 'usr/local/share/ca-certificates']) mkdirSync(join(root, d), { recursive: true });
    const pem = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=pith test', '-days', '1'], { encoding: 'utf8' });
    assert.equal(pem.status, 0, pem.stderr);
    const certs: Record<string, string> = { 'x/one.crt': pem.stdout.trimEnd(), 'x/two.crt': pem.stdout };
    const tree = FsTree.mergedUsr();
    for (const [rel, content] of Object.entries(certs)) {
      writeFileSync(join(root, 'usr/share/ca-certificates', rel), content);
      tree.add(file(`/usr/share/ca-certificates/${rel}`, content), 'x');
    }
    writeFileSync(join(root, 'etc/ca-certificates.conf'), Object.keys(certs).sort().join('\n') + '\n');
    const run = spawnSync('/usr/sbin/update-ca-certificates', [
      '--certsconf', join(root, 'etc/ca-certificates.conf'), '--certsdir', join(root, 'usr/share/ca-certificates'),
      '--localcertsdir', join(root, 'usr/local/share/ca-certificates'), '--etccertsdir', join(root, 'etc/ssl/certs'), '--hooksdir', join(root, 'none'),
    ], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    buildCaBundle(tree, { sourceDateEpoch: EPOCH });
    assert.equal(bundle(tree), readFileSync(join(root, 'etc/ssl/certs/ca-certificates.crt'), 'utf8'));
  });
});
