/** The /proc readers `pith debug` is made of, read against this very process (the host side needs no container). */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { capabilityNames, cgroups, environment, mounts, namespaceProcesses, namespaces, parseAddress, processInfo, rlimits, security, sockets } from '../../src/runtime/proc.ts';

describe('proc readers', () => {
  it('decode addresses and capability masks as the kernel writes them', () => {
    assert.equal(parseAddress('0100007F:1F90'), '127.0.0.1:8080');
    assert.equal(parseAddress('00000000000000000000000000000000:0050'), '[::]:80');
    assert.equal(parseAddress('00000000000000000000000001000000:0016'), '[::1]:22');
    assert.deepEqual(capabilityNames('0000000000000400'), ['NET_BIND_SERVICE']);
    assert.deepEqual(capabilityNames('0000000000000000'), []);
    assert.equal(capabilityNames('000001ffffffffff').length, 41);
  });

  it('read a live process: identity, namespaces, cgroups, security, rlimits, mounts, environment', () => {
    const me = processInfo(process.pid)!;
    assert.equal(me.pid, process.pid);
    assert.ok(me.cmdline.length > 0 && me.uids.length === 4);
    assert.ok(namespaceProcesses(process.pid).some((p) => p.pid === process.pid));
    assert.ok(namespaces(process.pid).every((n) => n.shared), 'pith shares its own namespaces');
    assert.ok(cgroups(process.pid).length > 0);
    assert.match(security(process.pid)!.seccomp, /disabled|filter|strict/);
    assert.ok(rlimits(process.pid).some((l) => l.name === 'Max open files'));
    assert.ok(mounts(process.pid).some((m) => m.target === '/'));
    assert.ok(environment(process.pid, false).every((e) => e.endsWith('=<redacted>')));
    assert.ok(environment(process.pid, true).some((e) => e.startsWith('PATH=/')));
  });

  it('map a listening socket to the process holding it', async () => {
    const server = createServer();
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as { port: number }).port;
    try {
      const found = sockets(process.pid, [process.pid]).find((s) => s.local === `127.0.0.1:${port}`);
      assert.equal(found?.state, 'LISTEN');
      assert.deepEqual(found?.pids, [process.pid]);
    } finally {
      server.close();
    }
  });
});
