/**
 * `pith run` and `pith debug` for real: examples/python-server is built from the machine's archive, run detached
 * under runc with pith's secure defaults, looked into from the host (its port, its process, its image's packages,
 * its confinement), entered with a host tool, and stopped — leaving no process, mount, bundle, runtime state or
 * cgroup. Then the foreground path (exit status, signal forwarding, crun) and bad input, each a clear error.
 * Every container lives under a state directory of this test's own (PITH_STATE_DIR).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, lstatSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { missingTools } from '../fixtures/apt.ts';
import { buildExample, type BuiltExample } from '../fixtures/examples.ts';
import { liveArchiveProblem } from '../fixtures/live-archive.ts';
import { exec, runtimeMissing, unpackBundle } from '../fixtures/runtimes.ts';

const bin = new URL('../../bin/pith.js', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'pith-run-'));
const stateDir = join(scratch, 'state');
const env = { ...process.env, PITH_STATE_DIR: stateDir };
const skip = (await liveArchiveProblem()) ?? runtimeMissing('runc') ?? missingTools({ nsenter: 'util-linux', setpriv: 'util-linux' });
const skipCrun = skip ?? runtimeMissing('crun');

const pith = (args: string[], extra: NodeJS.ProcessEnv = {}) => exec(process.execPath, [bin, ...args], { env: { ...env, ...extra } });
const name = `srv-${process.pid}`;
let example: BuiltExample;
let pid = 0;

before(async () => {
  if (skip) return;
  example = await buildExample(scratch, 'python-server', { architectures: ['amd64'] });
});

after(async () => {
  // Whatever a failed assertion left running goes with the test.
  if (existsSync(join(stateDir, 'containers'))) for (const n of readdirSync(join(stateDir, 'containers'))) await pith(['stop', '--time', '1', n]);
  rmSync(scratch, { recursive: true, force: true });
});

/**
 * pith as another user can run it: the checkout may sit in a 0700 home directory (Debian's default), which uid
 * 65534 cannot enter, so it gets a copy of what the launcher loads in a directory everyone can read.
 */
function readableCopy(): string {
  const root = new URL('../..', import.meta.url).pathname;
  const dir = join(scratch, 'readable-pith');
  for (const part of ['bin', 'dist', 'src', 'node_modules', 'package.json', 'package-lock.json', 'tsconfig.json']) {
    if (existsSync(join(root, part))) cpSync(join(root, part), join(dir, part), { recursive: true, verbatimSymlinks: true });
  }
  chmodSync(scratch, 0o755);
  makeReadable(dir);
  return join(dir, 'bin', 'pith.js');
}

/** chmod -R a+rX: everyone may read every file and enter every directory; nothing else changes. */
function makeReadable(path: string): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  chmodSync(path, (st.mode & 0o7777) | (st.isDirectory() ? 0o555 : 0o444));
  if (st.isDirectory()) for (const name of readdirSync(path)) makeReadable(join(path, name));
}

async function until<T>(what: string, f: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('pith run -d, pith debug and pith stop on the python-server example', { skip }, () => {
  it('runs the server detached: ps lists it, logs show it listening as uid 65532', async () => {
    const r = await pith(['run', '--detach', '--name', name, '--memory', '128m', '--pids-limit', '64', example.layout]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), name);
    const log = await until('the server to listen', async () => {
      const l = await pith(['logs', name]);
      return /listening/.test(l.stdout) ? l.stdout : undefined;
    });
    assert.match(log, /listening on 8080 as uid 65532/);
    const ps = JSON.parse((await pith(['ps', '--json'])).stdout) as Array<{ name: string; status: string; pid: number; digest: string }>;
    const me = ps.find((c) => c.name === name);
    assert.equal(me?.status, 'running');
    assert.equal(me?.digest, example.result.digest);
    pid = me!.pid;
  });

  it('pith debug finds the listening port, the process, the packages and the confinement', async () => {
    const r = await pith(['debug', name, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.target.pid, pid);
    assert.equal(report.image.digest, example.result.digest);
    const locked = example.lock.architectures.amd64!.packages.find((p) => p.name === 'python3-minimal')!;
    assert.ok(report.image.packages.some((p: { name: string; version: string }) => p.name === 'python3-minimal' && p.version === locked.version), 'status.d read through /proc/PID/root');
    assert.equal(report.image.os.id, 'debian');
    const server = report.processes.find((p: { cmdline: string[] }) => p.cmdline.join(' ') === '/usr/bin/python3 /app/server.py');
    assert.equal(server?.nsPid, 1, 'PID 1 of its own pid namespace');
    assert.deepEqual(server.uids, [65532, 65532, 65532, 65532]);
    const listen = report.sockets.find((s: { protocol: string; state: string; local: string }) => s.protocol === 'tcp' && s.state === 'LISTEN' && s.local === '0.0.0.0:8080');
    assert.deepEqual(listen?.pids, [pid], 'the port is mapped to the server process');
    assert.deepEqual(report.security.capabilities, { effective: [], permitted: [], bounding: [], ambient: [] });
    assert.equal(report.security.seccomp, 'filter');
    assert.equal(report.security.noNewPrivileges, true);
    assert.deepEqual(report.limits, { memory: String(128 * 1024 * 1024), pids: '64' });
    for (const ns of ['net', 'pid', 'ipc', 'uts', 'mnt']) assert.equal(report.namespaces.find((n: { type: string }) => n.type === ns)?.shared, false, ns);
    const root = report.mounts.find((m: { target: string }) => m.target === '/');
    assert.match(root.options, /(^|,)ro(,|$)/, 'read-only root');
    assert.ok(report.mounts.some((m: { target: string; type: string }) => m.target === '/tmp' && m.type === 'tmpfs'));
    assert.ok(report.env.includes('PORT=<redacted>'));
    const text = await pith(['debug', name, '--show-env']);
    assert.match(text.stdout, /PORT=8080/);
    assert.match(text.stdout, /tcp\s+LISTEN\s+0\.0\.0\.0:8080\s+\/usr\/bin\/python3\[1\]/);
  });

  it('pith debug --advisories lists the known vulnerabilities of what the container runs, by source package and version', async () => {
    const locked = example.lock.architectures.amd64!.packages.find((p) => p.name === 'python3-minimal')!;
    const tracker = join(scratch, 'tracker.json');
    writeFileSync(tracker, JSON.stringify({
      [locked.source]: {
        'CVE-2099-0001': { releases: { bookworm: { status: 'resolved', fixed_version: `${locked.sourceVersion}+fix1`, urgency: 'high' } } },
        'CVE-2099-0002': { releases: { bookworm: { status: 'resolved', fixed_version: '0', urgency: 'unimportant' } } },
      },
      'no-such-source': { 'CVE-2099-0003': { releases: { bookworm: { status: 'open', urgency: 'low' } } } },
    }));
    const r = await pith(['debug', name, '--json', '--advisories', tracker]);
    assert.equal(r.code, 0, r.stderr);
    const { vulnerabilities } = JSON.parse(r.stdout);
    assert.deepEqual(vulnerabilities.map((v: { id: string; source: string; fixed: string; packages: string[] }) => [v.id, v.source, v.fixed, v.packages.includes('python3-minimal')]),
      [['CVE-2099-0001', locked.source, `${locked.sourceVersion}+fix1`, true]], 'fixed_version "0" is not affected; an unknown source matches nothing');
    const text = await pith(['debug', name, '--advisories', tracker]);
    assert.match(text.stdout, /known vulnerabilities \(1;[^\n]*\n  CVE-2099-0001  /);
  });

  it('pith debug --exec runs host tools in its network namespace, with its root at $PITH_ROOT', async () => {
    const tcp = await pith(['debug', name, '--exec', '--', 'cat', '/proc/net/tcp']);
    assert.equal(tcp.code, 0, tcp.stderr);
    assert.match(tcp.stdout, /^\s*\d+: 00000000:1F90 00000000:0000 0A /m, "the container's port 8080, listening");
    const get = await pith(['debug', name, '--exec', '--', process.execPath, '-e', "fetch('http://127.0.0.1:8080/').then((r) => r.text()).then((t) => process.stdout.write(t))"]);
    assert.equal(get.stdout, 'hello from pith\n');
    const root = await pith(['debug', name, '--exec', '--', 'sh', '-c', 'echo "$PITH_ROOT"; cat "$PITH_ROOT/app/server.py" | head -1']);
    assert.equal(root.stdout, `/proc/${pid}/root\n"""examples/python-server: a tiny HTTP server on python3-minimal.\n`);
    assert.equal((await pith(['debug', name, '--exec', '--', 'sh', '-c', 'exit 4'])).code, 4, "the tool's exit status is pith's");
    const cgroup = await pith(['debug', name, '--exec', '--', 'cat', '/proc/self/cgroup']);
    assert.match(cgroup.stdout, new RegExp(`^\\d+:pids:/pith-${name}$`, 'm'), "the tool runs in the container's cgroups, under its limits");
  });

  it('pith stop ends it and leaves nothing behind: process, mounts, bundle, runtime state, cgroups', async () => {
    const r = await pith(['stop', name]);
    assert.equal(r.code, 0, r.stderr);
    // The server was reparented to the host's init when runc exited; once it has died only init's reaping is left.
    const state = () => { try { return /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]; } catch { return undefined; } };
    assert.ok(state() === undefined || state() === 'Z', `process ${pid} is gone (state ${state()})`);
    assert.deepEqual(readdirSync(join(stateDir, 'containers')), []);
    assert.deepEqual(readdirSync(join(stateDir, 'runc')), []);
    assert.doesNotMatch(readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(stateDir));
    for (const controller of readdirSync('/sys/fs/cgroup')) assert.equal(existsSync(join('/sys/fs/cgroup', controller, `pith-${name}`)), false, controller);
    assert.deepEqual(JSON.parse((await pith(['ps', '--json'])).stdout), []);
  });
});

describe('pith run in the foreground', { skip }, () => {
  const probe = [
    'import os, sys',
    'print("uid", os.getuid(), os.getgid())',
    'print([l for l in open("/proc/self/status") if l.startswith("CapEff")][0].split()[1])',
    'try:\n  open("/pwned", "w")\nexcept OSError as e:\n  print("root:", e.strerror)',
    'open("/tmp/ok", "w").write("x"); print("tmp writable")',
    'sys.exit(7)',
  ].join('\n');

  it("is confined (uid 65532, no capabilities, read-only root, writable /tmp) and its exit status is pith's", async () => {
    // The image named as a bare DIR:TAG, without oci:, as the other commands take it.
    const r = await pith(['run', '--entrypoint', '/usr/bin/python3', example.layout.replace(/^oci:/, ''), '--', '-c', probe]);
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, 'uid 65532 65532\n0000000000000000\nroot: Read-only file system\ntmp writable\n');
    assert.deepEqual(readdirSync(join(stateDir, 'containers')), [], 'a foreground container removes itself');
  });

  it('--writable, --user, -e and -v change exactly that, and never the cached image tree', async () => {
    const cache = join(scratch, 'cache');
    const r = await pith(['run', '--cache', cache, '--writable', '--user', '0', '-e', 'GREETING=hi', '-v', `${example.dir}:/data:ro`, '--entrypoint', '/usr/bin/python3', example.layout, '--', '-c',
      'import os; open("/made", "w"); print(os.getuid(), os.environ["GREETING"], sorted(os.listdir("/data"))[0:2])']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "0 hi ['out', 'pith.lock']\n");
    const cached = join(cache, 'rootfs', example.result.digest.slice('sha256:'.length), 'rootfs');
    assert.ok(existsSync(join(cached, 'app/server.py')));
    assert.equal(existsSync(join(cached, 'made')), false, 'what the container wrote went with it');
    assert.equal(existsSync(join(cached, 'data')), false, "the volume's mount point too");
    const again = await pith(['run', '--cache', cache, '--writable', '--entrypoint', '/usr/bin/python3', example.layout, '--', '-c', 'import os; print(os.path.exists("/made"))']);
    assert.equal(again.stdout, 'False\n', 'each container starts from the image');
  });

  it('forwards SIGTERM to the container', async () => {
    const child = spawn(process.execPath, [bin, 'run', '--name', `fg-${process.pid}`, example.layout], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    await until('the server to listen', async () => (/listening/.test(out) ? true : undefined));
    const exited = new Promise<number | null>((ok) => child.on('close', ok));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, 'the server exits 0 on SIGTERM, and pith with it');
    assert.deepEqual(readdirSync(join(stateDir, 'containers')), []);
  });

  it('runs under crun too, with the memory and pids limits in its cgroup', { skip: skipCrun }, async () => {
    const r = await pith(['run', '--runtime', 'crun', '--memory', '64m', '--pids-limit', '16', '--entrypoint', '/usr/bin/python3', example.layout, '--', '-c',
      'print([l.strip() for l in open("/proc/self/cgroup") if ":memory:" in l][0])']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /:memory:\/pith-pith-[0-9a-f]{8}/);
  });
});

describe('pith debug of containers pith did not start', { skip: skip ?? missingTools({ umoci: 'umoci' }) }, () => {
  it('finds a runc container by its id (runc\'s default state root) and by its pid', async () => {
    const bundle = join(scratch, 'runc-bundle');
    await unpackBundle(example.layout.slice('oci:'.length), bundle);
    const id = `pith-test-runc-${process.pid}`;
    try {
      // No pipes: a detached container keeps the stdio it is given open, so runc's would never reach end of file.
      const runc = spawn('runc', ['run', '--detach', '--bundle', bundle, id], { stdio: 'ignore' });
      assert.equal(await new Promise((ok) => runc.on('close', ok)), 0, 'runc run --detach');
      const report = await until('the server to listen', async () => {
        const r = JSON.parse((await pith(['debug', id, '--json'])).stdout);
        return r.sockets.some((s: { state: string }) => s.state === 'LISTEN') ? r : undefined;
      });
      assert.equal(report.target.kind, 'runc');
      assert.ok(report.image.packages.some((p: { name: string }) => p.name === 'python3-minimal'));
      assert.ok(report.sockets.some((s: { local: string; pids: number[] }) => s.local === '0.0.0.0:8080' && s.pids.includes(report.target.pid)));
      // umoci's config keeps the capabilities runc's default gives: pith's debug reports them as they are.
      assert.ok(report.security.capabilities.bounding.includes('KILL'));
      const byPid = JSON.parse((await pith(['debug', String(report.target.pid), '--json'])).stdout);
      assert.equal(byPid.target.kind, 'pid');
      assert.deepEqual(byPid.processes, report.processes);
    } finally {
      await exec('runc', ['delete', '--force', id]);
    }
  });
});

describe('pith debug of a podman container', { skip: skip ?? runtimeMissing('podman') }, () => {
  it('finds it by name through the podman CLI (with a private store and engine configuration)', async () => {
    const dir = join(scratch, 'podman');
    mkdirSync(dir);
    writeFileSync(join(dir, 'storage.conf'), `[storage]\ndriver = "vfs"\ngraphroot = "${dir}/root"\nrunroot = "${dir}/run"\n`);
    writeFileSync(join(dir, 'containers.conf'), [
      '[containers]', 'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]', 'netns = "none"',
      '[engine]', 'events_logger = "file"', 'runtime = "runc"', `tmp_dir = "${dir}/tmp"`, '',
    ].join('\n'));
    const podmanEnv = { CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'), CONTAINERS_CONF: join(dir, 'containers.conf') };
    const podman = (args: string[]) => exec('podman', args, { env: { ...env, ...podmanEnv } });
    const archive = join(scratch, 'python-server.tar');
    assert.equal((await pith(['copy', example.layout, `oci-archive:${archive}`])).code, 0);
    const podName = `pith-test-podman-${process.pid}`;
    try {
      const started = await podman(['run', '--detach', '--quiet', '--name', podName, `oci-archive:${archive}`]);
      assert.equal(started.code, 0, started.stderr);
      const report = await until('the server to listen', async () => {
        const r = await pith(['debug', podName, '--json'], podmanEnv);
        const json = r.code === 0 ? JSON.parse(r.stdout) : undefined;
        return json?.sockets.some((s: { state: string }) => s.state === 'LISTEN') ? json : undefined;
      });
      assert.equal(report.target.kind, 'podman');
      assert.match(report.image.id, /^[0-9a-f]{64}$/);
      assert.ok(report.image.packages.some((p: { name: string }) => p.name === 'python3-minimal'));
      assert.ok(report.processes.some((p: { cmdline: string[]; nsPid: number }) => p.nsPid === 1 && p.cmdline[1] === '/app/server.py'));
    } finally {
      await podman(['rm', '--force', '--time', '0', podName]);
      await podman(['rmi', '--all', '--force']);
    }
  });
});

describe('bad input is a clear error', { skip }, () => {
  it('names an unknown target, a pid that exited, and a missing container', async () => {
    const unknown = await pith(['debug', 'no-such-container']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^pith: DEBUG_UNKNOWN_TARGET: expected a pid, or a container name or id, found nothing called "no-such-container" \(looked in pith containers/);
    const gone = spawn('true');
    await new Promise((ok) => gone.on('close', ok));
    const exited = await pith(['debug', String(gone.pid)]);
    assert.equal(exited.code, 1);
    assert.match(exited.stderr, new RegExp(`^pith: DEBUG_NO_PROCESS: expected a running process ${gone.pid}, found none in /proc \\(it has exited`));
    const stop = await pith(['stop', 'no-such-container']);
    assert.equal(stop.code, 1);
    assert.match(stop.stderr, /^pith: RUN_NO_SUCH_CONTAINER: expected a pith container named "no-such-container"/);
    assert.match((await pith(['logs', 'no-such-container'])).stderr, /^pith: RUN_NO_SUCH_CONTAINER: expected a pith container named/);
  });

  it('names insufficient privileges', async () => {
    const asNobody = (args: string[]) => exec('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, readableCopy(), ...args], { env: { ...env, HOME: scratch } });
    const debug = await asNobody(['debug', '1']);
    assert.equal(debug.code, 1);
    assert.match(debug.stderr, /^pith: DEBUG_NOT_ROOT: expected to run as root to look into a container .*found uid 65534/);
    const run = await asNobody(['run', 'oci:/nonexistent']);
    assert.match(run.stderr, /^pith: RUN_NOT_ROOT: expected to run as root to run containers .*found uid 65534/);
  });

  it('names a bad image, name, volume and option before anything runs', async () => {
    assert.match((await pith(['run', 'oci:/nonexistent-pith-layout'])).stderr, /^pith: .*nonexistent-pith-layout/);
    // A malformed option value is a usage error (2); -v also names host paths that may be missing, so it is input (1).
    const refused = async (args: string[], code: number, stderr: RegExp) => {
      const r = await pith(args);
      assert.equal(r.code, code, `pith ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, stderr);
    };
    // --name and --cap-add are checked while the command line is read, with the runtime's own rule.
    await refused(['run', '--name', '../x', example.layout], 2, /^error: option '--name <name>' argument '\.\.\/x' is invalid\. expected a container name/);
    await refused(['run', '-v', 'relative', example.layout], 1, /^pith: RUN_BAD_VOLUME: expected -v HOST:CONTAINER/);
    await refused(['run', '--cap-add', 'ALL_OF_THEM', example.layout], 2, /^error: option '--cap-add <cap>' argument 'ALL_OF_THEM' is invalid\. expected a capability name/);
    await refused(['debug', name, 'cat'], 2, /^pith: DEBUG_NO_COMMAND: expected --exec before a command/);
    assert.deepEqual(readdirSync(join(stateDir, 'containers')), [], 'nothing is left by a refused run');
  });
});
