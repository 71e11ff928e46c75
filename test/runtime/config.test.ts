/**
 * The runtime config `pith run` writes: secure by default (the image's user, read-only root, tmpfs /tmp, no
 * capabilities, no_new_privileges, masked /proc paths, seccomp, its own namespaces), every option mapped, and bad
 * input named.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isPithError, runtimeSpec, type ErrorCode } from 'pith';
import { parseBytes } from '../../src/runtime/config.ts';
import { BLOCKED_SYSCALLS } from '../../src/runtime/seccomp.ts';
import type { OciConfig } from '../../src/oci/image.ts';

const rootfs = mkdtempSync(join(tmpdir(), 'pith-config-'));
after(() => rmSync(rootfs, { recursive: true, force: true }));
mkdirSync(join(rootfs, 'etc'));
writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n');
writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnonroot:x:65532:\naudio:x:29:nonroot\n');

const image = (config: OciConfig['config'] = {}): OciConfig => ({
  created: '1970-01-01T00:00:00Z',
  architecture: 'amd64',
  os: 'linux',
  config: { User: '65532:65532', Entrypoint: ['/usr/bin/python3', '/app/server.py'], Env: ['PORT=8080'], WorkingDir: '/app', ...config },
  rootfs: { type: 'layers', diff_ids: [] },
  history: [],
});

describe('runtimeSpec', () => {
  it('is secure by default', () => {
    const spec = runtimeSpec('web', image(), rootfs);
    assert.deepEqual(spec.process.user, { uid: 65532, gid: 65532, additionalGids: [29] }, 'with the groups /etc/group gives it');
    assert.deepEqual(spec.process.args, ['/usr/bin/python3', '/app/server.py']);
    assert.equal(spec.process.cwd, '/app');
    assert.ok(spec.process.env.includes('PORT=8080') && spec.process.env.some((e) => e.startsWith('PATH=')));
    assert.equal(spec.process.noNewPrivileges, true);
    assert.deepEqual(Object.values(spec.process.capabilities).flat(), [], 'no capability at all');
    assert.equal(spec.root.readonly, true);
    assert.ok(spec.mounts.some((m) => m.destination === '/tmp' && m.type === 'tmpfs'));
    assert.deepEqual(spec.linux.namespaces.map((n) => n.type).sort(), ['ipc', 'mount', 'network', 'pid', 'uts']);
    assert.ok(spec.linux.maskedPaths.includes('/proc/kcore') && spec.linux.readonlyPaths.includes('/proc/sys'));
    const blocked = spec.linux.seccomp.syscalls.filter((s) => s.action === 'SCMP_ACT_ERRNO').flatMap((s) => s.names);
    for (const call of ['mount', 'ptrace', 'bpf', 'kexec_load', 'init_module', 'unshare', 'setns']) assert.ok(blocked.includes(call), call);
    assert.deepEqual(spec.linux.seccomp.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    assert.equal(spec.hostname, 'web');
  });

  it('maps the options: args, env, volumes, user by name, workdir, limits, host network, writable, capabilities', () => {
    process.env.PITH_TEST_PASSED = 'from-host';
    const spec = runtimeSpec('web', image(), rootfs, {
      args: ['--verbose'],
      env: ['PORT=9090', 'PITH_TEST_PASSED'],
      volumes: [`${rootfs}:/data:ro`],
      user: 'nonroot',
      workdir: '/data',
      memory: '64m',
      pidsLimit: 32,
      network: 'host',
      writable: true,
      capAdd: ['net_bind_service'],
    });
    assert.deepEqual(spec.process.args, ['/usr/bin/python3', '/app/server.py', '--verbose']);
    assert.ok(spec.process.env.includes('PORT=9090') && !spec.process.env.includes('PORT=8080'));
    assert.ok(spec.process.env.includes('PITH_TEST_PASSED=from-host'));
    assert.deepEqual(spec.process.user, { uid: 65532, gid: 65532, additionalGids: [29] });
    assert.equal(spec.process.cwd, '/data');
    assert.deepEqual(spec.mounts.find((m) => m.destination === '/data')?.options.includes('ro'), true);
    assert.deepEqual(spec.linux.resources.memory, { limit: 64 * 1024 * 1024, swap: 64 * 1024 * 1024 });
    assert.deepEqual(spec.linux.resources.pids, { limit: 32 });
    assert.ok(!spec.linux.namespaces.some((n) => n.type === 'network'));
    assert.equal(spec.root.readonly, false);
    assert.deepEqual(spec.process.capabilities.effective, ['CAP_NET_BIND_SERVICE']);
    assert.deepEqual(spec.process.capabilities.ambient, ['CAP_NET_BIND_SERVICE'], 'a non-root user keeps it across exec');
    assert.deepEqual(runtimeSpec('x', image(), rootfs, { entrypoint: '/bin/true' }).process.args, ['/bin/true']);
  });

  it('names bad input', () => {
    const bad = (options: Parameters<typeof runtimeSpec>[3], code: ErrorCode, config = image()) =>
      assert.throws(() => runtimeSpec('x', config, rootfs, options), (e) => isPithError(e, code), code);
    bad({ volumes: ['/nonexistent-pith-path:/data'] }, 'RUN_BAD_VOLUME');
    bad({ volumes: ['relative'] }, 'RUN_BAD_VOLUME');
    bad({ volumes: [`${rootfs}:data`] }, 'RUN_BAD_VOLUME');
    bad({ env: ['1BAD=x'] }, 'RUN_BAD_ENV');
    bad({ capAdd: ['CAP_EVERYTHING'] }, 'RUN_BAD_CAPABILITY');
    bad({ memory: 'lots' }, 'RUN_BAD_SIZE');
    bad({ user: 'nobody-here' }, 'RUN_UNKNOWN_USER');
    bad({ workdir: 'relative' }, 'RUN_BAD_WORKDIR');
    bad({}, 'RUN_NO_COMMAND', image({ Entrypoint: undefined, Cmd: undefined }));
  });

  it('reads sizes with binary units', () => {
    assert.equal(parseBytes('1048576'), 1048576);
    assert.equal(parseBytes('512k'), 512 * 1024);
    assert.equal(parseBytes('1G'), 1024 ** 3);
    assert.ok(BLOCKED_SYSCALLS.length > 40);
  });
});
