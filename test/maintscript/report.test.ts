import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  ACCOUNTS_BY_PITH, MAINTAINER_SCRIPTS, NOT_NEEDED_LDCONFIG, NOT_NEEDED_MAINTSCRIPT_HELPER, NOT_NEEDED_REMOVAL, scriptReport,
} from '../../src/maintscript/report.ts';
import { readDeb } from '../../src/debian/deb.ts';
import { missingTools } from '../fixtures/apt.ts';

const files = (o: Record<string, string>) => new Map(Object.entries(o).map(([k, v]) => [k, new Uint8Array(Buffer.from(v))]));

describe('scriptReport', () => {
  it('lists every script, in a stable order, with the replacement that covers it or null', () => {
    const pkgs = [
      { name: 'zlib1g', controlFiles: files({ control: 'Package: zlib1g\n', triggers: '# Triggers added by dh_makeshlibs\nactivate-noawait ldconfig\n' }) },
      {
        name: 'foo',
        controlFiles: files({
          postinst: '#!/bin/sh\nset -e\n# Automatically added by dh_installdeb\ndpkg-maintscript-helper rm_conffile /etc/foo.conf 1.2~ -- "$@"\n# End automatically added section\n',
          preinst: '#!/bin/sh\nset -e\nadduser --system foo\n',
          postrm: '#!/bin/sh\nrm -rf /var/lib/foo\n',
          config: '#!/bin/sh\n. /usr/share/debconf/confmodule\n',
          triggers: 'interest-noawait /usr/share/foo\n',
        }),
      },
      { name: 'ca-certificates', controlFiles: files({ postinst: 'update-ca-certificates\n', postrm: 'rm -f /etc/ssl/certs/ca-certificates.crt\n', triggers: 'interest-noawait update-ca-certificates\n' }) },
      { name: 'base-passwd', controlFiles: files({ preinst: 'x', postinst: 'update-passwd\n' }) },
    ];
    const covered = { 'ca-certificates': 'CA bundle built by pith (3 certificates)', 'foo/config': 'defaults are fine' };
    const report = scriptReport(pkgs, covered);
    assert.deepEqual(report, [
      { package: 'base-passwd', script: 'preinst', covered: ACCOUNTS_BY_PITH },
      { package: 'base-passwd', script: 'postinst', covered: ACCOUNTS_BY_PITH },
      { package: 'ca-certificates', script: 'postinst', covered: 'CA bundle built by pith (3 certificates)' },
      { package: 'ca-certificates', script: 'postrm', covered: NOT_NEEDED_REMOVAL },
      { package: 'ca-certificates', script: 'triggers', covered: 'CA bundle built by pith (3 certificates)' },
      { package: 'foo', script: 'preinst', covered: null },
      { package: 'foo', script: 'config', covered: 'defaults are fine' },
      { package: 'foo', script: 'postinst', covered: NOT_NEEDED_MAINTSCRIPT_HELPER },
      { package: 'foo', script: 'postrm', covered: NOT_NEEDED_REMOVAL },
      { package: 'foo', script: 'triggers', covered: null },
      { package: 'zlib1g', script: 'triggers', covered: NOT_NEEDED_LDCONFIG },
    ]);
    assert.deepEqual(scriptReport([...pkgs].reverse(), covered), report);
    assert.equal(scriptReport([{ name: 'ca-certificates', controlFiles: pkgs[2]!.controlFiles }])[0]!.covered, null, 'no bundle built, no coverage claimed');
  });

  const skip = missingTools({ 'apt-get': 'apt', 'dpkg-deb': 'dpkg' });
  const scratch = mkdtempSync(join(tmpdir(), 'pith-scripts-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));
  it('finds exactly the scripts dpkg-deb sees in real packages', { skip }, async (t) => {
    const names = ['libc6', 'libssl3', 'base-passwd', 'ca-certificates', 'tzdata'];
    const dl = spawnSync('apt-get', ['download', ...names], { cwd: scratch, encoding: 'utf8' });
    if (dl.status !== 0) {
      if (process.env.PITH_REQUIRE_INTEGRATION === '1') assert.fail(`apt-get download failed: ${dl.stderr}`);
      return t.skip(`apt-get download ${names.join(' ')} failed (offline?): ${dl.stderr.trim().split('\n').pop()}`);
    }
    const pkgs = [];
    const expected: Array<[string, string]> = [];
    for (const f of readdirSync(scratch).filter((n) => n.endsWith('.deb')).sort()) {
      const deb = await readDeb(new Uint8Array(readFileSync(join(scratch, f))), f);
      const name = deb.control['package']!;
      pkgs.push({ name, controlFiles: deb.controlFiles });
      const ctl = join(scratch, `ctl-${name}`);
      assert.equal(spawnSync('dpkg-deb', ['-e', join(scratch, f), ctl]).status, 0);
      for (const s of readdirSync(ctl)) if ((MAINTAINER_SCRIPTS as readonly string[]).includes(s)) expected.push([name, s]);
    }
    const report = scriptReport(pkgs, { tzdata: '/etc/localtime written by pith' });
    const order = (s: string) => MAINTAINER_SCRIPTS.indexOf(s as never);
    expected.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : order(a[1]) - order(b[1])));
    assert.deepEqual(report.map((r) => [r.package, r.script]), expected);
    const get = (p: string, s: string) => report.find((r) => r.package === p && r.script === s)?.covered;
    assert.equal(get('libssl3', 'triggers'), NOT_NEEDED_LDCONFIG);
    assert.equal(get('base-passwd', 'postinst'), ACCOUNTS_BY_PITH);
    assert.equal(get('tzdata', 'postinst'), '/etc/localtime written by pith');
    assert.equal(get('ca-certificates', 'postinst'), null, 'the caller did not say it built a bundle');
    assert.equal(get('libc6', 'postinst'), null, "libc6's postinst is not claimed as covered");
  });
});
