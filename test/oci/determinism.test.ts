import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withTempDir } from './helpers.ts';

const child = fileURLToPath(new URL('./determinism-child.ts', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));

test('same entries ⇒ same digests and archive bytes across TZ, umask, locale, input order and runs', async () => {
  await withTempDir(async (dir) => {
    const variants = [
      { name: 'utc', umask: '022', env: { TZ: 'UTC', LC_ALL: 'C', LANG: 'C', PITH_TEST_SEED: '1' } },
      { name: 'tokyo', umask: '077', env: { TZ: 'Asia/Tokyo', LC_ALL: 'tr_TR.UTF-8', LANG: 'tr_TR.UTF-8', PITH_TEST_SEED: '7' } },
      { name: 'la', umask: '002', env: { TZ: 'America/Los_Angeles', LC_ALL: 'de_DE.UTF-8', LANG: 'de_DE.UTF-8', PITH_TEST_SEED: '99' } },
      { name: 'again', umask: '022', env: { TZ: 'UTC', LC_ALL: 'C', LANG: 'C', PITH_TEST_SEED: '1' } },
    ];
    const results: string[] = [];
    for (const v of variants) {
      const out = join(dir, v.name);
      await mkdir(out);
      const r = spawnSync('sh', ['-c', `umask ${v.umask} && exec "${process.execPath}" --import tsx "${child}" "${out}"`], {
        cwd: repo, encoding: 'utf8', env: { ...process.env, ...v.env },
      });
      assert.equal(r.status, 0, `${v.name}: ${r.stderr}`);
      results.push(r.stdout.trim());
    }
    const first = JSON.parse(results[0]!);
    assert.match(first.index, /^sha256:[0-9a-f]{64}$/);
    for (const [i, r] of results.entries()) assert.deepEqual(JSON.parse(r), first, variants[i]!.name);
  });
});
