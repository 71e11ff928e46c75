/**
 * A host whose name does not resolve, against one that answers but is no registry: a name that does not resolve
 * gets one attempt (two for the resolver's "temporary failure") and a message naming DNS resolution, without the
 * attempt count or the advice about plain HTTP and registries.conf that belong to other failures. `.invalid` names
 * never resolve (RFC 2606), so the real lookups here need no network; the resolver's other answers are made by a
 * stand-in for `fetch` that fails as Node's does.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isPithError } from '../../src/errors.ts';
import { classifyNetworkError, fetchBytes } from '../../src/net/fetch.ts';
import { RegistryClient, type RegistryOptions, type RetryEvent } from '../../src/registry/client.ts';
import { readRemote } from '../../src/registry/pull.ts';
import { pushImage } from '../../src/registry/push.ts';
import { EMPTY_REGISTRIES_CONF } from '../../src/registry/registries-conf.ts';
import { sampleImage } from './helpers.ts';

const NOWHERE = 'pith-nowhere.invalid';

/** What Node's fetch throws when getaddrinfo fails with `code`. */
function lookupFailure(code: string, hostname: string): TypeError {
  const cause = Object.assign(new Error(`getaddrinfo ${code} ${hostname}`), { code, syscall: 'getaddrinfo', hostname });
  return Object.assign(new TypeError('fetch failed'), { cause });
}

/** Runs `body` with `fetch` replaced by one that always throws `error`; resolves with the calls made. */
async function withFailingFetch(error: () => unknown, body: () => Promise<unknown>): Promise<number> {
  const real = globalThis.fetch;
  let calls = 0;
  globalThis.fetch = (async () => {
    calls++;
    throw error();
  }) as typeof fetch;
  try {
    await body().catch(() => undefined);
  } finally {
    globalThis.fetch = real;
  }
  return calls;
}

describe('which network failures are retried', () => {
  it('ENOTFOUND and EAI_FAIL are final, EAI_AGAIN gets one more attempt, connection failures the whole budget', () => {
    assert.equal(classifyNetworkError(lookupFailure('ENOTFOUND', 'a.invalid')).attempts, 1);
    assert.equal(classifyNetworkError(lookupFailure('EAI_FAIL', 'a.invalid')).attempts, 1);
    assert.equal(classifyNetworkError(lookupFailure('EAI_AGAIN', 'a.invalid')).attempts, 2);
    const reset = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) });
    assert.deepEqual(classifyNetworkError(reset), { description: 'ECONNRESET: read ECONNRESET', attempts: Infinity });
    assert.equal(classifyNetworkError(lookupFailure('EAI_AGAIN', 'a.invalid')).unresolved, 'a.invalid');
  });

  it('the registry client and fetchBytes stop where the classification says, whatever their retry budget', async () => {
    const options: RegistryOptions = { retry: { attempts: 6, baseDelayMs: 1 } };
    const send = () => RegistryClient.open('reg.invalid', options).send('https://reg.invalid/v2/', { method: 'GET' }, 'a test', true);
    assert.equal(await withFailingFetch(() => lookupFailure('ENOTFOUND', 'reg.invalid'), send), 1);
    assert.equal(await withFailingFetch(() => lookupFailure('EAI_AGAIN', 'reg.invalid'), send), 2);
    const reset = () => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) });
    assert.equal(await withFailingFetch(reset, send), 6);

    const get = () => fetchBytes('https://archive.invalid/dists/x/InRelease', { attempts: 4, backoffMs: 1 });
    assert.equal(await withFailingFetch(() => lookupFailure('ENOTFOUND', 'archive.invalid'), get), 1);
    assert.equal(await withFailingFetch(() => lookupFailure('EAI_AGAIN', 'archive.invalid'), get), 2);
    assert.equal(await withFailingFetch(reset, get), 4);
  });

  it('after two temporary failures the message says DNS resolution and how many attempts were made', async () => {
    let error: unknown;
    await withFailingFetch(() => lookupFailure('EAI_AGAIN', 'reg.invalid'), async () => {
      await RegistryClient.open('reg.invalid', { retry: { baseDelayMs: 1 } }).send('https://reg.invalid/v2/', { method: 'GET' }, 'a test', true).catch((e) => { error = e; });
    });
    assert.ok(isPithError(error, 'REGISTRY_CONNECTION'), String(error));
    assert.match(error.message, /could not resolve the host name reg\.invalid \(DNS resolution: EAI_AGAIN, a temporary failure of the resolver: is this machine offline.*\), 2 attempts$/);
    assert.deepEqual(error.details, { retryable: false, unresolved: 'reg.invalid' });
  });
});

describe('a registry host that does not resolve (a real lookup of a .invalid name)', () => {
  /** The default retry budget (6 attempts from 250 ms), as a user gets it. */
  function userOptions(events: RetryEvent[], extra: RegistryOptions = {}): RegistryOptions {
    return { registriesConf: EMPTY_REGISTRIES_CONF, onRetry: (e) => events.push(e), ...extra };
  }

  /** The failure of a lookup of a .invalid name: ENOTFOUND, or EAI_AGAIN on a machine whose resolver is unreachable. */
  function unresolved(action: string) {
    return (e: unknown) => {
      assert.ok(isPithError(e, 'REGISTRY_CONNECTION'), String(e));
      assert.match(e.message, new RegExp(`^the API version check of ${NOWHERE.replace('.', '\\.')}: GET https://${NOWHERE.replace('.', '\\.')}/v2/ failed: could not resolve the host name ${NOWHERE.replace('.', '\\.')} \\(DNS resolution: (ENOTFOUND|EAI_AGAIN), `), action);
      assert.doesNotMatch(e.message, /after \d+ attempts|plain HTTP|registries\.conf|http:\/\//, action);
      return true;
    };
  }

  it('a push fails at once, without retries, naming DNS resolution', async () => {
    const img = await sampleImage('unresolved');
    const events: RetryEvent[] = [];
    const started = Date.now();
    await assert.rejects(pushImage(`${NOWHERE}/team/x:1`, img, userOptions(events)), unresolved('push'));
    // Six attempts cost at least their backoff; at most one retry (EAI_AGAIN) is allowed.
    assert.ok(events.length <= 1, JSON.stringify(events));
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
  });

  it('a pull the same; named --insecure, plain HTTP is not tried for a name that does not resolve', async () => {
    const events: RetryEvent[] = [];
    await assert.rejects(readRemote(`${NOWHERE}/team/x:1`, userOptions(events)), unresolved('pull'));
    await assert.rejects(readRemote(`${NOWHERE}/team/x:1`, userOptions(events, { insecure: [NOWHERE] })), unresolved('insecure pull'));
    assert.ok(events.length <= 2, JSON.stringify(events));
  });

  it('an archive URL the same, through fetchBytes', async () => {
    const started = Date.now();
    await assert.rejects(fetchBytes(`https://${NOWHERE}/debian/dists/bookworm/InRelease`), (e) => {
      assert.ok(isPithError(e, 'NETWORK'), String(e));
      assert.match(e.message, new RegExp(`could not resolve the host name ${NOWHERE.replace('.', '\\.')} \\(DNS resolution: (ENOTFOUND|EAI_AGAIN), `));
      assert.doesNotMatch(e.message, /after \d+ attempts/);
      return true;
    });
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
  });
});

describe('a host that answers, but is not a registry', () => {
  let server: ReturnType<typeof createServer>;
  let host: string;
  before(async () => {
    server = createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>a web site</h1>'));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((ok) => server.close(() => ok())));

  it('says so, naming the host and what it answered, and nothing about DNS', async () => {
    const img = await sampleImage('not-a-registry');
    await assert.rejects(pushImage(`${host}/team/x:1`, img, { registriesConf: EMPTY_REGISTRIES_CONF, retry: { baseDelayMs: 1 } }), (e) => {
      assert.ok(isPithError(e, 'REGISTRY_HTTP'), String(e));
      assert.match(e.message, new RegExp(`found 404 Not Found: ${host} answered, but not as a registry API`));
      assert.doesNotMatch(e.message, /resolve|DNS/);
      return true;
    });
  });
});
