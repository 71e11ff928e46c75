/**
 * `pith serve` as users start it (bin/pith.js, a child process): it serves, says where, and SIGTERM or SIGINT end it
 * with status 0 (the store closed: the next start opens it); a non-loopback --listen without a token, a bad
 * --listen and a bad config fail before anything is served, with their codes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pithCli } from '../fixtures/exec.ts';

const bin = new URL('../../bin/pith.js', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'pith-serve-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const config = join(scratch, 'pith-serve.yaml');
writeFileSync(config, 'interval: 1h\n');

/** Starts `pith serve`, waits for its "serving URL" line; returns the URL, the child and what it printed. */
async function serve(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [bin, 'serve', '--config', config, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      const m = /serving (http:\/\/\S+)/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`pith serve exited ${code} before serving:\n${stderr}`)));
  });
  return { url, child, exited, stderr: () => stderr };
}

describe('pith serve, the command', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`serves until ${signal}, then exits 0 with its store closed`, async () => {
      const database = join(scratch, `store-${signal}`);
      const first = await serve(['--listen', '127.0.0.1:0', '--database', database]);
      let health: Response | undefined;
      for (let i = 0; i < 100; i++) {
        health = await fetch(`${first.url}/healthz`);
        if (health.status === 200) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(health?.status, 200);
      assert.match(first.stderr(), /refresh: 0 images/);
      first.child.kill(signal);
      assert.equal(await first.exited, 0, first.stderr());
      assert.match(first.stderr(), new RegExp(`${signal}: stopping`));
      // The PGlite store is free again: a second process opens it.
      const second = await serve(['--listen', '127.0.0.1:0', '--database', database]);
      second.child.kill('SIGTERM');
      assert.equal(await second.exited, 0, second.stderr());
    });
  }

  it('refuses what it must before serving: no token beyond loopback, a bad --listen, a bad config', async () => {
    const open = await pithCli(['serve', '--config', config, '--listen', '0.0.0.0:0', '--database', join(scratch, 'never')], { PITH_SERVE_TOKEN: '' });
    assert.equal(open.code, 1);
    assert.match(open.stderr, /^pith: SERVE_TOKEN_REQUIRED: --listen 0\.0\.0\.0:0 is not a loopback address/m);
    const listen = await pithCli(['serve', '--config', config, '--listen', 'localhost']);
    assert.equal(listen.code, 2);
    assert.match(listen.stderr, /--listen: expected HOST:PORT/);
    const bad = join(scratch, 'bad.yaml');
    writeFileSync(bad, 'interval: 10m\nregistires: []\n');
    const invalid = await pithCli(['serve', '--config', bad]);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, new RegExp(`pith: SERVE_CONFIG_INVALID: ${bad.replace(/[.]/g, '\\.')}:2:1`));
  });
});
