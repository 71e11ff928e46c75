// bench/run: issue 7, section 5. Time from `pith run` to the container's process running, warm (the image already
// unpacked in pith's cache; already in podman's storage), against `podman run` of the same image in the same run
// (runc under both, no network, podman with DESIGN.md's rlimits and a private --root). "Running" is the moment
// the process's first line reaches the caller: python3 -c 'print("up")' on the python-server example, built from
// the machine's apt sources into a temp dir. Also the whole run to exit, container removed. Median of 7 after one
// warm-up each; the ratio is pith / podman (below 1: pith is faster). Needs root, runc and podman.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, runContainer } from 'pith';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'pith.js');
const scratch = mkdtempSync(join(tmpdir(), 'pith-bench-run-'));
const env = { ...process.env, PITH_STATE_DIR: join(scratch, 'state') };
const PROBE = ['-c', 'print("up", flush=True)'];
const RUNS = 7;

/** Milliseconds until the command's first output line, and until it exits. */
function timed(cmd: string, args: string[]): Promise<{ up: number; done: number }> {
  return new Promise((ok, fail) => {
    const t = performance.now();
    let up = 0;
    let err = '';
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', () => { up ||= performance.now() - t; });
    child.stderr.on('data', (b) => (err += b));
    child.on('error', fail);
    child.on('close', (code) => (code === 0 && up ? ok({ up, done: performance.now() - t }) : fail(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

async function medians(f: () => Promise<{ up: number; done: number }>): Promise<{ up: number; done: number }> {
  await f();
  const all: Array<{ up: number; done: number }> = [];
  for (let i = 0; i < RUNS; i++) all.push(await f());
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
  return { up: median(all.map((x) => x.up)), done: median(all.map((x) => x.done)) };
}

try {
  const dir = join(scratch, 'python-server');
  mkdirSync(dir);
  const from = join(root, 'examples', 'python-server');
  for (const e of readdirSync(from, { withFileTypes: true })) if (e.isFile() && e.name !== 'pith.lock') copyFileSync(join(from, e.name), join(dir, e.name));
  const layout = `oci:${join(dir, 'out')}:python-server`;
  const archive = join(dir, 'python-server.tar');
  await build(join(dir, 'pith.yaml'), { architectures: ['amd64'], outputs: [layout, `oci-archive:${archive}`] });

  const podmanState = join(scratch, 'podman');
  const podman = ['--root', join(podmanState, 'root'), '--runroot', join(podmanState, 'run'), '--tmpdir', join(podmanState, 'tmp'), '--storage-driver', 'vfs', '--events-backend', 'file'];
  const loaded = spawnSync('podman', [...podman, 'load', '--quiet', '--input', archive], { encoding: 'utf8' });
  if (loaded.status !== 0) throw new Error(`podman load failed: ${loaded.stderr}`);
  const imageId = /(sha256:)?([0-9a-f]{64})/.exec(loaded.stdout)?.[2] ?? loaded.stdout.trim().split(/\s+/).pop()!;

  const pithCli = await medians(() => timed(process.execPath, [bin, 'run', '--entrypoint', '/usr/bin/python3', layout, '--', ...PROBE]));
  const pithApi = await medians(async () => {
    const t = performance.now();
    let up = 0;
    await runContainer(layout, { entrypoint: '/usr/bin/python3', args: ['-c', 'pass'], stateDir: env.PITH_STATE_DIR, onStarted: () => { up ||= performance.now() - t; } });
    return { up: up || performance.now() - t, done: performance.now() - t };
  });
  const podmanRun = await medians(() => timed('podman', [
    ...podman, 'run', '--rm', '--network', 'none', '--runtime', 'runc', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024',
    '--entrypoint', '/usr/bin/python3', imageId, ...PROBE,
  ]));

  const row = (what: string, ms: number, peer: number) => console.log(`  ${what.padEnd(44)} ${ms.toFixed(0).padStart(6)} ms   ${(ms / peer).toFixed(2)}× podman`);
  console.log(`python-server example (linux/amd64), warm; median of ${RUNS}:`);
  console.log('\nfrom the command to the process\'s first line:');
  row('podman run --rm (runc)', podmanRun.up, podmanRun.up);
  row('pith run (CLI, runc)', pithCli.up, podmanRun.up);
  console.log('\nthe whole run, to exit with the container removed:');
  row('podman run --rm (runc)', podmanRun.done, podmanRun.done);
  row('pith run (CLI, runc)', pithCli.done, podmanRun.done);
  row('pith runContainer (in-process API, runc)', pithApi.done, podmanRun.done);
  console.log(`\nin-process, to the runtime reporting it running: ${pithApi.up.toFixed(0)} ms`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
