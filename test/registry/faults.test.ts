/**
 * A push and a pull through a proxy that misbehaves between pith and a real registry: 500s, 429 with Retry-After,
 * connections dropped before a request is forwarded, midway through an upload chunk, and after the registry has
 * acted. The push still completes and the registry ends up with exactly the image; re-running a push that failed
 * finishes it without sending anything twice; a proxy that alters bytes is caught by name.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { existsSync } from 'node:fs';
import type { Image } from '../../src/oci/image.ts';
import { copyImage } from '../../src/transports/transports.ts';
import { pushImage } from '../../src/registry/push.ts';
import { readRemote } from '../../src/registry/pull.ts';
import type { RegistryOptions, RetryEvent } from '../../src/registry/client.ts';
import { isPithError } from '../../src/errors.ts';
import { FaultProxy, type Fault, type ProxiedRequest } from '../fixtures/fault-proxy.ts';
import { Registry, registryMissing } from '../fixtures/registry.ts';
import { bigImage, sampleImage } from './helpers.ts';
import { streamOnly } from '../oci/helpers.ts';

const skip = registryMissing();
const scratch = mkdtempSync(join(tmpdir(), 'pith-faults-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Small chunks so one layer takes several PATCHes; short backoff so the test is quick (Retry-After still rules). */
function options(retries: RetryEvent[] = []): RegistryOptions {
  return { chunkSize: 1 << 17, retry: { baseDelayMs: 20 }, onRetry: (e) => retries.push(e) };
}

/** Faults by request kind: the Nth request of a kind (1-based) gets the fault listed for N. */
function script(plan: Record<string, Record<number, Fault>>): (r: ProxiedRequest) => Fault | undefined {
  const counts = new Map<string, number>();
  return (r) => {
    const path = r.url.replace(/\?.*$/, '');
    const kind =
      path === '/v2/' ? `${r.method} ping`
      : /\/blobs\/uploads\/$/.test(path) ? `${r.method} start`
      : /\/blobs\/uploads\/./.test(path) ? `${r.method} upload`
      : /\/blobs\//.test(path) ? `${r.method} blob`
      : /\/manifests\//.test(path) ? `${r.method} manifest`
      : `${r.method} other`;
    const n = (counts.get(kind) ?? 0) + 1;
    counts.set(kind, n);
    return plan[kind]?.[n];
  };
}

async function registryDigest(registry: Registry, repo: string, tag: string): Promise<string | null> {
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  return res.headers.get('docker-content-digest');
}

async function assertBlobsStored(registry: Registry, repo: string, img: Image): Promise<void> {
  for (const l of img.layers) {
    const res = await fetch(`${registry.url}/v2/${repo}/blobs/${l.digest}`);
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), await l.bytes(), `layer ${l.digest}`);
  }
}

describe('through a fault-injecting proxy', { skip }, () => {
  let registry: Registry;
  before(async () => { registry = await Registry.start(join(scratch, 'registry')); });
  after(() => registry?.stop());

  it('a push survives 500s, a 429 with Retry-After and dropped connections, and the registry holds exactly the image', async () => {
    const img = await bigImage(600_000, 'faults');
    const proxy = await FaultProxy.start(registry.url, script({
      'GET ping': { 1: { kind: 'status', status: 500 } },
      'HEAD blob': { 1: { kind: 'status', status: 429, headers: { 'retry-after': '1' } } },
      'POST start': { 1: { kind: 'status', status: 503 } },
      // The 2nd chunk never reaches the registry: the upload's status says where to resume.
      // The 4th breaks off midway: the registry invalidates the upload, and a fresh one is started.
      'PATCH upload': { 2: { kind: 'drop-before' }, 4: { kind: 'drop-mid-body', after: 10_000 } },
      // The registry stores the first blob finished, but its answer is lost: a HEAD finds the blob there.
      'PUT upload': { 1: { kind: 'drop-response' } },
      'PUT manifest': { 1: { kind: 'status', status: 500 }, 2: { kind: 'drop-response' } },
    }));
    try {
      const retries: RetryEvent[] = [];
      const summary = await pushImage(`${proxy.host}/team/faulty:1`, img, options(retries));
      assert.equal(summary.digest, img.digest);
      assert.deepEqual(proxy.faults().sort(), ['GET status', 'HEAD status', 'PATCH drop-before', 'PATCH drop-mid-body', 'POST status', 'PUT drop-response', 'PUT drop-response', 'PUT status'].sort());
      assert.ok(summary.resumed >= 1, `resumed ${summary.resumed}`);
      assert.ok(summary.restarted >= 1, `restarted ${summary.restarted}`);
      assert.ok(retries.some((r) => r.reason.startsWith('429') && r.delayMs === 1000), 'Retry-After: 1 is waited out');
      assert.equal(await registryDigest(registry, 'team/faulty', '1'), img.digest);
      await assertBlobsStored(registry, 'team/faulty', img);
    } finally {
      await proxy.close();
    }
  });

  it('a layer pushed from its stream resumes a chunk that did not arrive from the chunk it holds, and restarts a dropped upload from a fresh stream', async () => {
    const img = await bigImage(600_000, 'faults-streamed');
    const layers = await Promise.all(img.layers.map((l) => streamOnly(l)));
    const proxy = await FaultProxy.start(registry.url, script({ 'PATCH upload': { 2: { kind: 'drop-before' }, 4: { kind: 'drop-mid-body', after: 10_000 } } }));
    try {
      const summary = await pushImage(`${proxy.host}/team/faulty-streamed:1`, { ...img, layers }, options());
      assert.deepEqual(proxy.faults().sort(), ['PATCH drop-before', 'PATCH drop-mid-body']);
      assert.ok(summary.resumed >= 1, `resumed ${summary.resumed}`);
      assert.ok(summary.restarted >= 1, `restarted ${summary.restarted}`);
      assert.ok(layers[1]!.streamed >= 2, 'the restarted upload read the layer again');
      assert.equal(await registryDigest(registry, 'team/faulty-streamed', '1'), img.digest);
      await assertBlobsStored(registry, 'team/faulty-streamed', img);
    } finally {
      await proxy.close();
    }
  });

  it('a push that gave up is finished by running it again, without sending any blob twice', async () => {
    const img = await sampleImage('rerun');
    const down = await FaultProxy.start(registry.url, (r) => (r.method === 'PUT' && r.url.includes('/manifests/') ? { kind: 'status', status: 503 } : undefined));
    try {
      await assert.rejects(pushImage(`${down.host}/team/rerun:1`, img, { ...options(), retry: { attempts: 2, baseDelayMs: 10 } }),
        (e) => isPithError(e, 'REGISTRY_HTTP') && /503/.test(e.message));
    } finally {
      await down.close();
    }
    assert.equal(await registryDigest(registry, 'team/rerun', '1'), null, 'no tag for an incomplete push');
    const again = await pushImage(`${registry.host}/team/rerun:1`, img, options());
    assert.deepEqual([again.blobs.uploaded, again.blobs.skipped, again.bytesSent, again.manifests.pushed], [0, 3, 0, 1]);
    assert.equal(await registryDigest(registry, 'team/rerun', '1'), img.digest);
  });

  it('a pull retries a connection dropped before the answer', async () => {
    const img = await sampleImage('pull-drop');
    await pushImage(`${registry.host}/team/pulldrop:1`, img, options());
    const proxy = await FaultProxy.start(registry.url, script({ 'GET blob': { 1: { kind: 'drop-response' }, 3: { kind: 'status', status: 502 } } }));
    try {
      const r = await copyImage(`docker://${proxy.host}/team/pulldrop:1`, `oci:${join(scratch, 'pulldrop')}`, { registry: options() });
      assert.equal(r.digest, img.digest);
      assert.deepEqual(proxy.faults(), ['GET drop-response', 'GET status']);
    } finally {
      await proxy.close();
    }
  });

  it('a layer whose body breaks off resumes where it broke (a Range request), or skips what arrived when the registry ignores Range', async () => {
    const img = await bigImage(600_000, 'resume');
    await pushImage(`${registry.host}/team/resume:1`, img, options());
    const big = img.layers.reduce((a, b) => (b.size > a.size ? b : a));
    for (const [name, second] of [['range', undefined], ['no range', { kind: 'strip-headers', headers: ['range'] }]] as const) {
      const ranges: string[] = [];
      let asked = 0;
      const proxy = await FaultProxy.start(registry.url, (r) => {
        if (r.method !== 'GET' || !r.url.endsWith(big.digest)) return undefined;
        ranges.push(String(r.headers.range ?? 'none'));
        return ++asked === 1 ? { kind: 'cut-response', after: 200_000 } : second;
      });
      const retries: RetryEvent[] = [];
      try {
        const out = join(scratch, `resume-${name.replace(' ', '-')}`);
        await copyImage(`docker://${proxy.host}/team/resume:1`, `oci:${out}`, { registry: options(retries) });
        assert.equal((await copyImage(`oci:${out}`, `oci:${out}-check`)).digest, img.digest, name);
        assert.equal(ranges[0], 'none', name);
        assert.match(ranges[1] ?? '', /^bytes=\d+-$/, name);
        assert.ok(retries.some((e) => /resuming at byte \d+/.test(e.reason)), name);
        // The registry answers the Range request with 206 and the rest only; without Range, 200 and the whole blob.
        assert.deepEqual(proxy.log.filter((e) => e.path.endsWith(big.digest)).map((e) => e.outcome), name === 'range' ? ['cut-response', 206] : ['cut-response', 'strip-headers'], name);
      } finally {
        await proxy.close();
      }
    }
  });

  it('a pull downloads layers over parallel connections while a writer takes them one at a time', async () => {
    const img = await sampleImage('parallel');
    await pushImage(`${registry.host}/team/parallel:1`, img, options());
    // The first layer request is held until a second one arrives: that only happens if they overlap.
    let release: (() => void) | undefined;
    let layerRequests = 0;
    let overlapped = false;
    const proxy = await FaultProxy.start(registry.url, async (r) => {
      if (r.method !== 'GET' || !img.layers.some((l) => r.url.endsWith(l.digest))) return undefined;
      if (++layerRequests === 1) {
        await new Promise<void>((ok) => {
          release = ok;
          setTimeout(ok, 10_000);
        });
        release = undefined;
      } else if (release) {
        overlapped = true;
        release();
      }
      return undefined;
    });
    try {
      // An oci-archive takes blobs in order, one at a time: the downloads ahead of it are the pull's own.
      await copyImage(`docker://${proxy.host}/team/parallel:1`, `oci-archive:${join(scratch, 'parallel.tar')}`, { registry: options() });
      assert.ok(overlapped, 'a second layer download started while the first was in flight');
    } finally {
      await proxy.close();
    }
  });

  it('with prefetchBytes 0 a pull downloads no layer ahead: each is streamed only when the writer asks for it', async () => {
    const img = await sampleImage('streamed');
    await pushImage(`${registry.host}/team/streamed:1`, img, options());
    let inFlight = 0;
    let most = 0;
    const proxy = await FaultProxy.start(registry.url, async (r) => {
      if (r.method !== 'GET' || !img.layers.some((l) => r.url.endsWith(l.digest))) return undefined;
      most = Math.max(most, ++inFlight);
      // Long enough for a download ahead to start, were there one.
      await new Promise((ok) => setTimeout(ok, 200));
      inFlight--;
      return undefined;
    });
    try {
      await copyImage(`docker://${proxy.host}/team/streamed:1`, `oci-archive:${join(scratch, 'streamed.tar')}`, { registry: { ...options(), prefetchBytes: 0 } });
      assert.ok(img.layers.length > 1);
      assert.equal(most, 1, 'one layer request at a time: the writer\'s own');
    } finally {
      await proxy.close();
    }
  });

  it('altered bytes are refused with REGISTRY_DIGEST_MISMATCH (a layer, a config, a manifest by tag), too many with REGISTRY_TOO_LARGE — and nothing is written', async () => {
    const img = await sampleImage('altered');
    await pushImage(`${registry.host}/team/altered:1`, img, options());
    const cases: Array<[string, (r: ProxiedRequest) => boolean]> = [
      ['layer', (r) => r.url.endsWith(img.layers[1]!.digest)],
      ['config', (r) => r.url.endsWith(img.manifest.config.digest)],
      ['manifest', (r) => r.method === 'GET' && r.url.endsWith('/manifests/1')],
    ];
    for (const [what, match] of cases) {
      const proxy = await FaultProxy.start(registry.url, (r) => (match(r) ? { kind: 'alter-body' } : undefined));
      const out = join(scratch, `altered-${what}`);
      try {
        await assert.rejects(copyImage(`docker://${proxy.host}/team/altered:1`, `oci:${out}`, { registry: options() }),
          (e) => isPithError(e, 'REGISTRY_DIGEST_MISMATCH') && e.message.includes(`${proxy.host}/team/altered`), what);
        assert.ok(proxy.faults().includes('GET alter-body'), what);
        assert.equal(existsSync(out), false, `${what}: no output from a refused pull`);
      } finally {
        await proxy.close();
      }
    }
    // A blob longer than its descriptor says is cut off at the size promised, not read to the end.
    const flood = await FaultProxy.start(registry.url, (r) =>
      r.url.endsWith(img.layers[1]!.digest) ? { kind: 'respond', status: 200, headers: { 'content-type': 'application/octet-stream' }, body: 'x'.repeat(1 << 20) } : undefined);
    try {
      await assert.rejects(copyImage(`docker://${flood.host}/team/altered:1`, `oci:${join(scratch, 'flood')}`, { registry: options() }),
        (e) => isPithError(e, 'REGISTRY_TOO_LARGE') && e.message.includes(`at most ${img.layers[1]!.size} bytes`));
    } finally {
      await flood.close();
    }
    // Through an honest path the same image reads fine.
    assert.equal((await readRemote(`${registry.host}/team/altered:1`, options())).digest, img.digest);
  });
});
