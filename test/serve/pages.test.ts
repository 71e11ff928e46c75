/**
 * The dashboard in a real headless browser: Debian's Chromium driven by playwright-core, against the service on the
 * real fleet of test/fixtures/fleet.ts. The overview's numbers are the API's; a person searches for a package and
 * sees the images and where they run; a screenshot is taken; the tables are there with JavaScript off; a phone's
 * viewport never scrolls sideways; every input has a label, each page one h1, the page a language, and text meets
 * WCAG AA contrast. Then the patch loop as a person sees it: the affected images, the fix available, the time to
 * patch after `pith update`, and a registry that goes down shown stale with its last good read.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { parseServeConfig } from '../../src/serve/config.ts';
import { startServe, type ServeHandle } from '../../src/serve/service.ts';
import { missingTools, skipUnlessRequired } from '../fixtures/apt.ts';
import { FIXED_CVE, FLEET_TOOLS, startFleet, type Fleet } from '../fixtures/fleet.ts';

const CHROMIUM = '/usr/bin/chromium';
const skip = missingTools(FLEET_TOOLS) ?? (existsSync(CHROMIUM) ? undefined : skipUnlessRequired('needs /usr/bin/chromium (Debian package chromium)'));
const scratch = mkdtempSync(join(tmpdir(), 'pith-serve-pages-'));
/** PITH_SERVE_SCREENSHOTS=DIR keeps the screenshots there, to look at them. */
const keep = process.env.PITH_SERVE_SCREENSHOTS;
after(() => {
  if (keep) for (const f of ['overview.png', 'phone.png', 'timeline.png']) if (existsSync(join(scratch, f))) copyFileSync(join(scratch, f), join(keep, f));
  rmSync(scratch, { recursive: true, force: true });
});

/** A manifest whose file name is markup: it must show as text, never become an element. */
const EVIL = 'evil<b id="injected">x.yaml';

async function api(svc: ServeHandle, path: string): Promise<any> {
  const res = await fetch(`${svc.url}${path}`);
  assert.equal(res.status, 200, path);
  return res.json();
}

/** The checks every page must pass: a language, one h1, every input labelled, a skip link to main. */
async function assertAccessible(page: Page): Promise<void> {
  const facts = await page.evaluate(() => {
    const inputs = [...document.querySelectorAll('input, select, textarea')].filter((e) => (e as HTMLInputElement).type !== 'hidden');
    return {
      lang: document.documentElement.lang,
      h1: document.querySelectorAll('h1').length,
      unlabelled: inputs.filter((e) => (e as HTMLInputElement).labels?.length === 0 && !e.getAttribute('aria-label')).map((e) => e.outerHTML),
      skip: (document.querySelector('a.skip') as HTMLAnchorElement | null)?.getAttribute('href'),
      main: document.querySelector('main')?.id,
      viewport: document.querySelector('meta[name=viewport]')?.getAttribute('content'),
      title: document.title,
    };
  });
  assert.equal(facts.lang, 'en');
  assert.equal(facts.h1, 1, `${facts.title}: one h1`);
  assert.deepEqual(facts.unlabelled, []);
  assert.equal(facts.skip, '#main');
  assert.equal(facts.main, 'main');
  assert.match(facts.viewport ?? '', /width=device-width/);
}

/**
 * WCAG 2 contrast of each text element against the first opaque background behind it (AA: 4.5, large text 3).
 * Plain JavaScript in a string: tsx would wrap a function's inner functions in a helper the page does not have.
 */
const CONTRAST = `(sel) => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (e) => {
    for (; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  for (const e of document.querySelectorAll(sel)) {
    if (!e.offsetParent && getComputedStyle(e).position !== 'fixed') continue;
    const fg = lum(rgb(getComputedStyle(e).color));
    const bg = lum(background(e));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    const large = parseFloat(getComputedStyle(e).fontSize) >= 24;
    if (ratio < (large ? 3 : 4.5)) bad.push(e.tagName + ' "' + (e.textContent || '').trim().slice(0, 30) + '": ' + ratio.toFixed(2));
  }
  return bad;
}`;

async function lowContrast(page: Page, selector: string): Promise<string[]> {
  return page.evaluate(`(${CONTRAST})(${JSON.stringify(selector)})`);
}

const TEXT = 'h1, h2, p, dt, dd, th, td, a, label, button, .badge, caption, footer, code';

describe('pith serve: the dashboard in Chromium', { skip }, () => {
  let fleet: Fleet;
  let svc: ServeHandle;
  let browser: Browser;
  let context: BrowserContext;

  before(async () => {
    fleet = await startFleet(scratch);
    writeFileSync(join(fleet.deploy, EVIL), `services:\n  shady:\n    image: ${fleet.registry.host}/other/base:bookworm\n`);
    svc = await startServe({
      config: fleet.config,
      database: join(scratch, 'store'),
      listen: '127.0.0.1:0',
      refresh: { registry: { retry: { attempts: 2, baseDelayMs: 10 } }, cacheDir: fleet.cacheDir },
    });
    await svc.refresh();
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    context = await browser.newContext({ baseURL: svc.url });
  });
  after(async () => {
    await browser?.close();
    await svc?.close();
    await fleet?.stop();
  });

  it('the overview shows the API\'s numbers, in tables, and passes the basic accessibility checks', async () => {
    const page = await context.newPage();
    const response = await page.goto('/');
    assert.equal(response?.status(), 200);
    const summary = await api(svc, '/api/summary');
    const { images } = await api(svc, '/api/images');
    const metric = (name: string) => page.textContent(`[data-metric="${name}"]`);
    assert.equal(await metric('images'), String(summary.images));
    assert.equal(await metric('packages'), String(summary.packages));
    assert.equal(await metric('open-fixes'), String(summary.openFixes.total));
    const rows = await page.$$eval('tr[data-digest]', (trs) => trs.map((tr) => [tr.getAttribute('data-digest'), tr.querySelectorAll('td')[5]!.textContent]));
    assert.deepEqual(rows, images.map((i: any) => [i.digest, String(i.openFixes)]));
    const severities = await page.$$eval('td[data-severity]', (tds) => Object.fromEntries(tds.map((td) => [td.getAttribute('data-severity'), Number(td.textContent)])));
    assert.deepEqual(severities, summary.openFixes.bySeverity);
    await assertAccessible(page);
    assert.deepEqual(await lowContrast(page, TEXT), []);
    const shot = join(scratch, 'overview.png');
    await page.screenshot({ path: shot, fullPage: true });
    const png = readFileSync(shot);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
    const [width, height] = [png.readUInt32BE(16), png.readUInt32BE(20)];
    assert.ok(width >= 1000 && height >= 600, `${width}x${height}`);
    assert.ok(png.length > 20_000, `a page with content, not a blank: ${png.length} bytes`);

    // The skip link is the first thing the keyboard reaches, and shows when it does.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.className), 'skip');
    await page.close();
  });

  it('search: a person types a package, submits, and sees the images with their versions and where they run', async () => {
    const page = await context.newPage();
    await page.goto('/');
    await page.getByLabel('Package[@version] or CVE').fill('libfoo1');
    await Promise.all([page.waitForURL(/\/search\?q=libfoo1$/), page.getByRole('button', { name: 'Search' }).click()]);
    assert.equal(await page.textContent('h1'), 'Images containing libfoo1');
    const rows = await page.$$eval('tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.innerText.replace(/\s+/g, ' ').trim())));
    assert.equal(rows.length, 2);
    assert.match(rows[0]![0]!, /^other\/base sha256:/);
    assert.equal(rows[0]![1], '1.0-1');
    assert.match(rows[0]![5]!, /compose\.yaml: service base/);
    assert.match(rows[1]![0]!, /^web sha256:/);
    assert.equal(rows[1]![1], '1.0-1+deb12u1');
    assert.match(rows[1]![5]!, /k8s\/web\.yaml: Deployment\/web \(container web\)/);
    // The manifest named with markup is text on the page, and no element of its own.
    assert.ok(rows[0]![5]!.includes(EVIL), rows[0]![5]);
    assert.equal(await page.$('#injected'), null);
    await assertAccessible(page);

    // A CVE, then through to the image's page.
    await page.getByLabel('Package[@version] or CVE').fill(FIXED_CVE);
    await Promise.all([page.waitForURL(new RegExp(`q=${FIXED_CVE}$`)), page.keyboard.press('Enter')]);
    assert.equal(await page.textContent('h1'), `Images affected by ${FIXED_CVE}`);
    assert.equal(await page.locator('tbody tr').count(), 2);
    await Promise.all([page.waitForURL(/\/images\/sha256/), page.getByRole('link', { name: 'web', exact: true }).click()]);
    assert.match((await page.textContent('h1'))!, /^web \(linux\/amd64\)$/);
    const detail = await api(svc, `/api/images/${fleet.webDigest}`);
    assert.equal(await page.textContent('[data-metric="packages"]'), String(detail.packages.length));
    await assertAccessible(page);

    // What the box cannot take is said on the page, not a server error.
    const bad = await page.goto('/search?q=Not%20a%20package!');
    assert.equal(bad?.status(), 400);
    assert.match((await page.textContent('[role=alert]'))!, /expected an advisory id/);
    await page.close();
  });

  it('with JavaScript off every table is there', async () => {
    const off = await browser.newContext({ baseURL: svc.url, javaScriptEnabled: false });
    try {
      const page = await off.newPage();
      await page.goto('/');
      assert.equal(await page.locator('tr[data-digest]').count(), 2);
      await page.goto('/search?q=libfoo1');
      assert.equal(await page.locator('tbody tr').count(), 2);
      await page.goto(`/images/${encodeURIComponent(fleet.baseDigest)}`);
      assert.ok((await page.locator('tbody tr').count()) >= 5, 'packages, advisories, origins');
    } finally {
      await off.close();
    }
  });

  it('on a phone no page scrolls sideways', async () => {
    const phone = await browser.newContext({ baseURL: svc.url, viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    try {
      const page = await phone.newPage();
      for (const path of ['/', '/search?q=libfoo1', `/search?q=${FIXED_CVE}`, `/images/${encodeURIComponent(fleet.webDigest)}`, '/timeline', '/sources', '/search']) {
        await page.goto(path);
        const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
        assert.ok(scroll <= client, `${path}: ${scroll} > ${client}`);
        await assertAccessible(page);
      }
      await page.goto('/');
      await page.screenshot({ path: join(scratch, 'phone.png'), fullPage: true });
    } finally {
      await phone.close();
    }
  });

  it('the patch loop on the dashboard: the fix published, then pith update, then the time to patch; a registry down is shown stale', async () => {
    const page = await context.newPage();
    await fleet.publishFix();
    await svc.refresh();
    await page.goto('/');
    const severities = await page.$$eval('td[data-severity]', (tds) => Object.fromEntries(tds.map((td) => [td.getAttribute('data-severity'), Number(td.textContent)])));
    assert.deepEqual(severities, { high: 2, medium: 1 });
    await page.goto(`/search?q=${FIXED_CVE}`);
    const fixes = await page.$$eval('tbody tr', (trs) => trs.map((tr) => tr.querySelectorAll('td')[4]!.textContent));
    assert.deepEqual(fixes, ['yes', 'yes'], 'the fix is available for both images');

    const newDigest = await fleet.updateWeb();
    await svc.refresh();
    await page.goto('/');
    const summary = await api(svc, '/api/summary');
    assert.ok(summary.timeToPatch.resolved > 0);
    assert.match((await page.textContent('[data-metric="median-time-to-patch"]'))!, /^\d+ s$/);
    assert.equal(await page.textContent(`tr[data-digest="${newDigest}"] td:nth-child(6)`), '0');

    await page.goto('/timeline');
    const bars = await page.locator('svg[role=img] g').count();
    const { events } = await api(svc, '/api/timeline');
    assert.equal(bars, events.length);
    assert.equal(await page.locator('tbody tr').count(), events.length);
    assert.equal(await page.locator('svg circle').count(), events.filter((e: any) => e.deployedAt).length);
    await assertAccessible(page);
    assert.deepEqual(await lowContrast(page, TEXT), []);
    await page.screenshot({ path: join(scratch, 'timeline.png'), fullPage: true });

    const lastGood = (await api(svc, '/api/sources')).sources.find((s: any) => s.source === `registry ${fleet.registry.host}`).lastGoodRead;
    await fleet.registry.stop();
    await svc.refresh();
    await page.goto('/');
    const notice = (await page.textContent('.notice'))!.replace(/\s+/g, ' ');
    assert.match(notice, new RegExp(`registry ${fleet.registry.host.replace(/\./g, '\\.')}: last good read ${lastGood.slice(0, 10)} ${lastGood.slice(11, 16)} UTC`));
    assert.equal(await page.locator('tr[data-digest]').count(), 2, 'what the registry held is kept, never dropped');
    // Kept and marked: every tag of the stopped registry is a stale origin; an image known only from it is stale (web
    // is also its spec's lock, read now, so it is not).
    const images = (await api(svc, '/api/images')).images;
    const tags = images.flatMap((i: any) => i.origins.filter((o: any) => o.kind === 'registry'));
    assert.ok(tags.length >= 3 && tags.every((o: any) => o.state === 'stale'), JSON.stringify(images));
    const onlyThere = images.filter((i: any) => i.origins.every((o: any) => o.kind === 'registry'));
    assert.deepEqual(images.map((i: any) => [i.name, i.stale]).sort(), images.map((i: any) => [i.name, onlyThere.includes(i)]).sort());
    assert.equal(await page.textContent('[data-metric="stale-images"]'), String(onlyThere.length));
    assert.equal(await page.locator('tr[data-digest] li .badge.stale').count(), tags.length);
    await page.close();
  });
});

describe('pith serve: signing in with the token, in Chromium', { skip: existsSync(CHROMIUM) ? undefined : skipUnlessRequired('needs /usr/bin/chromium (Debian package chromium)') }, () => {
  it('a page asks for the token, a wrong one is refused on the form, the right one leads back to the page', async () => {
    const token = 'tok-'.padEnd(40, 'x');
    const svc = await startServe({ config: parseServeConfig('', join(scratch, 'empty.yaml')), database: join(scratch, 'login-store'), listen: '0.0.0.0:0', env: { PITH_SERVE_TOKEN: token } });
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      await svc.refresh();
      const page = await browser.newPage({ baseURL: `http://127.0.0.1:${new URL(svc.url).port}` });
      await page.goto('/sources');
      assert.match(page.url(), /\/login\?next=%2Fsources$/);
      await assertAccessible(page);
      assert.deepEqual(await lowContrast(page, TEXT), []);
      await page.getByLabel('Access token').fill('wrong');
      await page.getByRole('button', { name: 'Sign in' }).click();
      assert.match((await page.textContent('[role=alert]'))!, /not the one this service was started with/);
      await page.getByLabel('Access token').fill(token);
      await Promise.all([page.waitForURL(/\/sources$/), page.getByRole('button', { name: 'Sign in' }).click()]);
      assert.equal(await page.textContent('h1'), 'Sources');
      const [cookie] = await page.context().cookies();
      assert.deepEqual([cookie?.name, cookie?.httpOnly, cookie?.sameSite], ['pith_serve_session', true, 'Strict']);
      await Promise.all([page.waitForURL(/\/login$/), page.getByRole('button', { name: 'Sign out' }).click()]);
      await page.goto('/');
      assert.match(page.url(), /\/login\?next=%2F$/);
    } finally {
      await browser.close();
      await svc.close();
    }
  });
});
