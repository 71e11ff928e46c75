import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyTimezone } from '../../src/assemble/localtime.ts';
import { readDeb } from '../../src/debian/deb.ts';
import { isPithError } from '../../src/errors.ts';
import { FsTree } from '../../src/fs/tree.ts';
import { missingTools } from '../fixtures/apt.ts';

const EPOCH = 1_700_000_000;

describe('applyTimezone', () => {
  it('does nothing for UTC without tzdata, refuses another zone', () => {
    const tree = FsTree.mergedUsr();
    assert.equal(applyTimezone(tree, 'UTC', { sourceDateEpoch: EPOCH }), null);
    assert.equal(applyTimezone(tree, undefined, { sourceDateEpoch: EPOCH }), null);
    assert.equal(tree.get('/etc/localtime'), undefined);
    assert.throws(() => applyTimezone(tree, 'Europe/Paris', { sourceDateEpoch: EPOCH }), (e) => isPithError(e, 'TIMEZONE_NO_TZDATA') && e.message.includes('"Europe/Paris"'));
  });

  describe('with the real tzdata', () => {
    const skip = missingTools({ 'apt-get': 'apt', 'dpkg-deb': 'dpkg' });
    const scratch = mkdtempSync(join(tmpdir(), 'pith-tz-'));
    after(() => rmSync(scratch, { recursive: true, force: true }));
    let debBytes: Uint8Array | undefined;
    let offline: string | undefined;
    before(() => {
      if (skip) return;
      const dl = spawnSync('apt-get', ['download', 'tzdata'], { cwd: scratch, encoding: 'utf8' });
      if (dl.status !== 0) {
        if (process.env.PITH_REQUIRE_INTEGRATION === '1') assert.fail(`apt-get download tzdata failed: ${dl.stderr}`);
        offline = `apt-get download tzdata failed (offline?): ${dl.stderr.trim().split('\n').pop()}`;
        return;
      }
      debBytes = new Uint8Array(readFileSync(join(scratch, readdirSync(scratch).find((f) => f.endsWith('.deb'))!)));
    });
    const tzTree = async () => {
      const tree = FsTree.mergedUsr();
      for (const e of (await readDeb(debBytes!, 'tzdata.deb')).entries) tree.add(e, 'tzdata');
      return tree;
    };

    it('links /etc/localtime as the postinst does and writes /etc/timezone', { skip }, async (t) => {
      if (offline) return t.skip(offline);
      for (const tz of ['UTC', 'Europe/Paris', 'America/Argentina/Buenos_Aires']) {
        const tree = await tzTree();
        assert.deepEqual(applyTimezone(tree, tz, { sourceDateEpoch: EPOCH }), { timezone: tz, localtime: `/usr/share/zoneinfo/${tz}` });
        assert.deepEqual(tree.get('/etc/localtime'), { type: 'symlink', path: '/etc/localtime', target: `/usr/share/zoneinfo/${tz}`, uid: 0, gid: 0, mtime: EPOCH });
        assert.equal(Buffer.from(tree.readFile('/etc/localtime')!.subarray(0, 4)).toString(), 'TZif');
        assert.equal(Buffer.from(tree.readFile('/etc/timezone')!).toString(), `${tz}\n`);
        assert.equal(tree.get('/etc/timezone')!.mtime, EPOCH);
      }
      // tzdata ships /usr/share/zoneinfo/localtime -> /etc/localtime: it must now resolve too.
      const tree = await tzTree();
      applyTimezone(tree, 'UTC', { sourceDateEpoch: EPOCH });
      assert.ok(tree.readFile('/usr/share/zoneinfo/localtime'));
    });

    it('refuses unknown zones, data files and paths that climb out, naming them', { skip }, async (t) => {
      if (offline) return t.skip(offline);
      const tree = await tzTree();
      for (const tz of ['Mars/Olympus', 'zone.tab', 'tzdata.zi', '../../../etc/passwd', 'Europe', '', 'Europe/Paris\n']) {
        assert.throws(() => applyTimezone(tree, tz, { sourceDateEpoch: EPOCH }), (e) => isPithError(e, 'TIMEZONE_UNKNOWN') && e.message.includes(JSON.stringify(tz)), tz);
      }
      assert.equal(tree.get('/etc/localtime'), undefined);
    });

    it('agrees with tzdata\'s postinst about the link it makes', { skip }, async (t) => {
      if (offline) return t.skip(offline);
      const ctl = join(scratch, 'control');
      assert.equal(spawnSync('dpkg-deb', ['-e', join(scratch, readdirSync(scratch).find((f) => f.endsWith('.deb'))!), ctl]).status, 0);
      const postinst = readFileSync(join(ctl, 'postinst'), 'utf8');
      assert.match(postinst, /ln -nsf "\/usr\/share\/zoneinfo\/\$TIMEZONE" "\$DPKG_ROOT\/etc\/localtime/);
      assert.match(postinst, /echo "\$TIMEZONE" > "\$DPKG_ROOT\/etc\/timezone"/);
    });
  });
});
