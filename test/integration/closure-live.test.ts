// Library closure against the machine's real apt sources: a program linked against OpenSSL, in a spec that asks
// only for ca-certificates, gets libssl3 and libc6 from the archive's Contents index — the same packages dpkg -S
// names for those paths on this machine — and runs under runc.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { lock, type BuildResult } from 'pith';
import { missingTools } from '../fixtures/apt.ts';
import { liveArchiveProblem } from '../fixtures/live-archive.ts';
import { assertRan, runcRun, unpackBundle } from '../fixtures/runtimes.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pith-closure-live-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const skip = missingTools({ gcc: 'gcc', umoci: 'umoci', runc: 'runc', 'dpkg-query': 'dpkg' })
  ?? (statSync('/usr/include/openssl/ssl.h', { throwIfNoEntry: false }) ? undefined : missingOpenSslHeaders())
  ?? (await liveArchiveProblem());

function missingOpenSslHeaders(): string {
  const msg = 'needs the OpenSSL headers (Debian package libssl-dev)';
  if (process.env.PITH_REQUIRE_INTEGRATION === '1') throw new Error(`PITH_REQUIRE_INTEGRATION=1 but this test ${msg}`);
  return msg;
}

/** The package dpkg says owns `path` on this machine, trying the path as merged /usr spells it and as the package does. */
function dpkgOwner(path: string): string | undefined {
  for (const p of [path, path.replace(/^\/usr(\/(lib|lib32|lib64|libx32|bin|sbin)\/)/, '$1')]) {
    const r = spawnSync('dpkg-query', ['-S', p], { encoding: 'utf8' });
    if (r.status === 0) return r.stdout.split(':')[0];
  }
  return undefined;
}

test('libraries: auto adds libssl3 and libc6 for a program linked against OpenSSL, and the image runs it', { skip }, async () => {
  writeFileSync(join(scratch, 'ossl.c'), [
    '#include <stdio.h>',
    '#include <openssl/ssl.h>',
    'int main(void) {',
    '  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());',
    '  if (!ctx) return 1;',
    '  printf("%s\\n", OpenSSL_version(OPENSSL_VERSION));',
    '  SSL_CTX_free(ctx);',
    '  return 0;',
    '}',
    '',
  ].join('\n'));
  const cc = spawnSync('gcc', ['-O2', '-o', join(scratch, 'ossl'), join(scratch, 'ossl.c'), '-lssl', '-lcrypto'], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  const spec = join(scratch, 'pith.yaml');
  writeFileSync(spec, 'name: ossl\npackages: [ca-certificates]\nfiles:\n  - from: ossl\n    to: /usr/local/bin/ossl\nentrypoint: [/usr/local/bin/ossl]\n');
  const env = { ...process.env, XDG_CACHE_HOME: join(scratch, 'cache') };

  const { lock: locked } = await lock(spec, { cacheDir: join(scratch, 'cache', 'pith') });
  const [arch, locks] = Object.entries(locked.architectures)[0]!;
  const names = locks.packages.map((p) => p.name);
  assert.ok(names.includes('libssl3') && names.includes('libc6') && names.includes('ca-certificates'), names.join(' '));
  assert.ok(!names.includes('openssl'), 'still minimal: the CLI tool is not needed, only the library');
  const provides = locks.libraries!.provides;
  const by = (need: string) => provides.find((p) => p.need === need);
  assert.equal(by('libssl.so.3')?.package, 'libssl3');
  assert.equal(by('libcrypto.so.3')?.package, 'libssl3');
  assert.equal(by('libc.so.6')?.package, 'libc6');
  for (const p of provides) {
    assert.equal(p.added, true, `${p.need}: nothing else in the spec pulls ${p.package} in`);
    assert.deepEqual(p.neededBy, ['/usr/local/bin/ossl']);
    // This machine has the same libraries installed (the program was linked against them): dpkg agrees.
    assert.equal(dpkgOwner(p.path), p.package, `dpkg -S ${p.path}`);
  }
  assert.deepEqual(locks.libraries!.needs[0]!.needed.filter((n) => /^lib(ssl|crypto|c)\.so/.test(n)).sort(), ['libc.so.6', 'libcrypto.so.3', 'libssl.so.3']);

  // The CLI's --json report carries the closure.
  const out = join(scratch, 'out');
  const bin = new URL('../../bin/pith.js', import.meta.url).pathname;
  const built = spawnSync(process.execPath, [bin, 'build', '--json', '--output', `oci:${out}:ossl`, spec], { env, encoding: 'utf8' });
  assert.equal(built.status, 0, built.stderr);
  const report = JSON.parse(built.stdout) as Omit<BuildResult, 'image'>;
  const libs = report.architectures[0]!.libraries;
  assert.equal(report.architectures[0]!.architecture, arch);
  assert.deepEqual([...new Set(libs.added.map((a) => a.package))].sort(), ['libc6', 'libssl3']);
  const closure = libs.files[0]!;
  assert.equal(closure.file, '/usr/local/bin/ossl');
  assert.equal(closure.interpreter?.package, 'libc6');
  const owners = Object.fromEntries(closure.libraries.map((l) => [l.soname, l.package]));
  assert.deepEqual([owners['libssl.so.3'], owners['libcrypto.so.3'], owners['libc.so.6']], ['libssl3', 'libssl3', 'libc6']);

  const bundle = join(scratch, 'bundle');
  const { rootfs } = await unpackBundle(`${out}:ossl`, bundle);
  const stdout = assertRan(await runcRun(bundle));
  const upstream = locks.packages.find((p) => p.name === 'libssl3')!.version.replace(/-[^-]*$/, '');
  assert.match(stdout, new RegExp(`^OpenSSL ${upstream.replace(/\./g, '\\.')} `), 'the image\'s libssl3 answers');
  assert.ok(statSync(join(rootfs, 'var/lib/dpkg/status.d/libssl3')).isFile());
  assert.ok(statSync(join(rootfs, 'var/lib/dpkg/status.d/libc6')).isFile());
});
