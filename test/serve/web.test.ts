// The pure parts of pith serve's HTTP face: the gate that keeps reads off a refresh's write, the search box's
// reading, the listen address and loopback, the escaping template, and how durations and the chart are drawn.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPithError } from '../../src/errors.ts';
import { checkListen, loopback, parseListen } from '../../src/serve/auth.ts';
import { digestOf, parseSearchText } from '../../src/serve/http.ts';
import { duration, html, timelineChart } from '../../src/serve/pages.ts';
import { ReadWriteGate } from '../../src/serve/service.ts';

describe('ReadWriteGate', () => {
  it('lets readers share, makes a writer wait for them, and queues later readers behind the writer', async () => {
    const gate = new ReadWriteGate();
    const events: string[] = [];
    const hold = () => {
      let release!: () => void;
      return { promise: new Promise<void>((r) => (release = r)), release: () => release() };
    };
    const r1 = hold();
    const r2 = hold();
    const w = hold();
    const first = gate.read(async () => { events.push('r1 start'); await r1.promise; events.push('r1 end'); });
    const second = gate.read(async () => { events.push('r2 start'); await r2.promise; events.push('r2 end'); });
    const write = gate.write(async () => { events.push('w start'); await w.promise; events.push('w end'); });
    const late = gate.read(async () => { events.push('r3'); });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(events, ['r1 start', 'r2 start'], 'the writer waits for both readers; the late reader for the writer');
    r1.release();
    r2.release();
    await Promise.all([first, second]);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(events.slice(2), ['r1 end', 'r2 end', 'w start']);
    w.release();
    await Promise.all([write, late]);
    assert.deepEqual(events.slice(5), ['w end', 'r3']);
  });

  it('releases the gate when the work throws', async () => {
    const gate = new ReadWriteGate();
    await assert.rejects(gate.write(async () => { throw new Error('boom'); }), /boom/);
    await assert.rejects(gate.read(async () => { throw new Error('bang'); }), /bang/);
    assert.equal(await gate.write(async () => 'free'), 'free');
  });
});

describe('the search box', () => {
  it('reads NAME, NAME@VERSION and advisory ids; lowercase package names with digits stay packages', () => {
    assert.deepEqual(parseSearchText(' libssl3 '), { package: 'libssl3' });
    assert.deepEqual(parseSearchText('libssl3@3.0.17-1~deb12u2'), { package: 'libssl3', version: '3.0.17-1~deb12u2' });
    assert.deepEqual(parseSearchText('zlib1g@1:1.2.13.dfsg-1'), { package: 'zlib1g', version: '1:1.2.13.dfsg-1' });
    assert.deepEqual(parseSearchText('gcc-12-base'), { package: 'gcc-12-base' });
    assert.deepEqual(parseSearchText('CVE-2026-1111'), { cve: 'CVE-2026-1111' });
    assert.deepEqual(parseSearchText('cve-2026-1111'), { cve: 'cve-2026-1111' });
    assert.deepEqual(parseSearchText('DSA-5678-1'), { cve: 'DSA-5678-1' });
    assert.throws(() => parseSearchText('libssl3@'), /version: expected a value/);
    assert.throws(() => parseSearchText('<script>'), /package: expected a Debian package name/);
  });
});

describe('an image digest in a path', () => {
  it('takes a manifest digest and a lock digest (with its architecture for a lock of several), encoded or not; else a 400', () => {
    const hex = 'ab'.repeat(32);
    assert.equal(digestOf(`sha256:${hex}`), `sha256:${hex}`);
    assert.equal(digestOf(`lock%3Asha256%3A${hex}`), `lock:sha256:${hex}`);
    assert.equal(digestOf(`lock:sha256:${hex}:arm64`), `lock:sha256:${hex}:arm64`);
    for (const bad of [`sha256:${hex}:arm64`, `sha256:${hex.toUpperCase()}`, `lock:sha256:${hex}:`, 'sha256:abc', '%E0%A4%A']) {
      assert.throws(() => digestOf(bad), (e: { status?: number }) => e.status === 400, bad);
    }
  });
});

describe('where it listens', () => {
  it('reads HOST:PORT and [IPv6]:PORT; loopback is 127/8, ::1 and localhost', () => {
    assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080, text: '127.0.0.1:8080' });
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0, text: '[::1]:0' });
    for (const bad of ['8080', 'host:', ':80', 'a:70000', 'a b:80']) assert.throws(() => parseListen(bad), (e: unknown) => isPithError(e, 'SERVE_LISTEN_INVALID'), bad);
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1']) assert.ok(loopback(host), host);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.5', 'example.com', '128.0.0.1']) assert.ok(!loopback(host), host);
    assert.doesNotThrow(() => checkListen(parseListen('127.0.0.1:1'), undefined));
    assert.throws(() => checkListen(parseListen('[::]:1'), undefined), (e: unknown) => isPithError(e, 'SERVE_TOKEN_REQUIRED'));
    assert.doesNotThrow(() => checkListen(parseListen('0.0.0.0:1'), 'x'.repeat(16)));
  });
});

describe('rendering', () => {
  it('html escapes every value it interpolates, arrays included, and only Html passes as markup', () => {
    const name = `<img src=x onerror="alert('1')">&`;
    assert.equal(html`<td>${name}</td>`.text, '<td>&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;</td>');
    assert.equal(html`<ul>${['<a>', html`<li>${'b&'}</li>`]}</ul>`.text, '<ul>&lt;a&gt;<li>b&amp;</li></ul>');
    assert.equal(html`${undefined}${null}${false}${0}`.text, '0');
  });

  it('durations read as a person says them', () => {
    assert.deepEqual([undefined, 0.4, 59, 60, 3599, 3600, 7380, 86_400, 3 * 86_400 + 4 * 3600].map(duration), ['–', '0 s', '59 s', '1 min', '60 min', '1 h 0 min', '2 h 3 min', '1 d 0 h', '3 d 4 h']);
  });

  it('the timeline chart has a row per event, a circle where the fix ran, and escaped labels', () => {
    const svg = timelineChart([
      { id: 'CVE-1', origin: 'reg/app:<1>', image: 'app', packages: ['p'], firstSeen: '2026-01-01T00:00:00.000Z', fixAvailableAt: '2026-01-02T00:00:00.000Z', fixedAt: '2026-01-03T00:00:00.000Z', fixedDigest: 'sha256:1', deployedAt: '2026-01-04T00:00:00.000Z', secondsToImage: 86_400, secondsToDeploy: 172_800 },
      { id: 'CVE-2', origin: 'spec/pith.yaml', image: 'b', packages: ['q'], firstSeen: '2026-01-01T00:00:00.000Z', fixedAt: '2026-01-02T00:00:00.000Z', fixedDigest: 'sha256:2' },
    ]).text;
    assert.equal(svg.match(/<g>/g)?.length, 2);
    assert.equal(svg.match(/<circle/g)?.length, 1);
    assert.ok(svg.includes('app:&lt;1&gt;') && !svg.includes('<1>'));
    assert.match(svg, /role="img" aria-labelledby="chart-title chart-desc"/);
    assert.equal(timelineChart([]).text, '');
  });
});
