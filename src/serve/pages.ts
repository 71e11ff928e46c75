/**
 * The dashboard's pages, rendered on the server from the same data the API returns: plain HTML tables (they work
 * with JavaScript off: there is none), one h1 each, labelled inputs, a skip link, a viewport that fits a phone
 * (wide tables scroll inside their own box, never the page), and an inline SVG patch-timeline chart.
 *
 * Every value is untrusted (a package name, a manifest path, an advisory's text): `html` escapes whatever it
 * interpolates unless it is already `Html`, so escaping cannot be forgotten.
 */
import type { CveHit, DeploymentView, FindingView, FleetSummary, ImageDetail, ImageSummary, OriginView, PackageHit, PatchEvent, RefreshRecord, SourceStatus } from './store.ts';
import type { AutoUpdateRecord } from './autoupdate.ts';
import type { SearchQuery } from './http.ts';

export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function piece(v: unknown): string {
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(piece).join('');
  if (v === undefined || v === null || v === false) return '';
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += piece(values[i]) + strings[i + 1]!;
  return new Html(out);
}

export interface Layout {
  refresh: { running: boolean; intervalSeconds: number; last?: RefreshRecord; lastFailure?: { at: string; message: string } };
  signedIn: boolean;
}

export const CSS = `
:root { color-scheme: light; --fg: #1b1b1b; --muted: #4a4a4a; --bg: #fff; --line: #c8c8c8; --accent: #0b4f8a; --warn-bg: #fff4d6; --warn: #5c3d00; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); overflow-wrap: anywhere; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, .table-wrap:focus-visible { outline: 3px solid #1a73e8; outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: #000; color: #fff; padding: .5em 1em; z-index: 1; }
.skip:focus { left: 0; }
header { background: #102a43; color: #fff; padding: .5rem 1rem; display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; }
header a { color: #fff; }
header nav ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: .25rem 1rem; }
header .brand { font-weight: 700; text-decoration: none; }
form.search { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
form.search label { font-size: .9rem; }
input[type=search], input[type=password] { font: inherit; padding: .35rem .5rem; border: 1px solid #767676; border-radius: 4px; min-width: 0; width: 16rem; max-width: 100%; }
button { font: inherit; padding: .35rem .9rem; border: 0; border-radius: 4px; background: #0b4f8a; color: #fff; cursor: pointer; }
header button { background: #fff; color: #102a43; }
main { padding: 1rem; max-width: 80rem; margin: 0 auto; }
h1 { font-size: 1.6rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.25rem; margin: 1.75rem 0 .5rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(10rem, 1fr)); gap: .75rem; margin: 0; }
.cards div { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .75rem; }
.cards dt { color: var(--muted); font-size: .9rem; }
.cards dd { margin: 0; font-size: 1.5rem; font-weight: 650; }
.table-wrap { overflow-x: auto; max-width: 100%; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; overflow-wrap: normal; }
/* Below this a table scrolls in its own box rather than squeezing each cell to a letter's width. */
.table-wrap table.wide { min-width: 38rem; }
/* A path or digest in a cell wraps only when it must: break-all would size its column to one character. */
td code { word-break: normal; overflow-wrap: break-word; }
th { word-break: normal; overflow-wrap: normal; }
caption { text-align: left; padding: .4rem .6rem; color: var(--muted); }
th, td { text-align: left; padding: .4rem .6rem; border-top: 1px solid var(--line); vertical-align: top; }
th { background: #f2f4f7; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: .88em; word-break: break-all; }
.badge { display: inline-block; padding: 0 .45em; border-radius: 4px; font-size: .85em; font-weight: 600; color: #fff; background: #4d4d4d; white-space: nowrap; }
.sev-critical { background: #7a0010; } .sev-high { background: #9c3300; } .sev-medium, .sev-moderate { background: #6b4f00; }
.sev-low { background: #2b5580; } .ok { background: #1e6b34; } .stale { background: #6b4f00; }
.notice { background: var(--warn-bg); color: var(--warn); border: 1px solid #d9b44a; border-radius: 6px; padding: .5rem .75rem; }
.error { background: #fde8e8; color: #7a0010; border: 1px solid #e0a0a0; border-radius: 6px; padding: .5rem .75rem; }
.muted { color: var(--muted); }
ul.plain { margin: 0; padding-left: 1.1rem; }
svg { max-width: 100%; height: auto; display: block; }
svg text { font: 12px system-ui, sans-serif; fill: #1b1b1b; }
figure.chart { margin: 0; }
footer { padding: 1rem; color: var(--muted); font-size: .9rem; border-top: 1px solid var(--line); }
@media (max-width: 40rem) { main { padding: .75rem; } h1 { font-size: 1.35rem; } input[type=search] { width: 100%; } form.search { width: 100%; } }
`;

const NAV: Array<[string, string]> = [['/', 'Overview'], ['/search', 'Search'], ['/timeline', 'Patch timeline'], ['/sources', 'Sources']];

function page(layout: Layout, title: string, current: string, body: Html, searchText = ''): string {
  const last = layout.refresh.last;
  return `<!doctype html>\n${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · pith serve</title>
<link rel="stylesheet" href="/assets/pith.css">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
<a class="brand" href="/">pith serve</a>
<nav aria-label="Main"><ul>${NAV.map(([href, label]) => html`<li><a href="${href}"${href === current ? new Html(' aria-current="page"') : ''}>${label}</a></li>`)}</ul></nav>
<form class="search" role="search" method="get" action="/search">
<label for="q">Package[@version] or CVE</label>
<input type="search" id="q" name="q" value="${searchText}" placeholder="libssl3@3.0.17-1~deb12u2" autocomplete="off" spellcheck="false">
<button type="submit">Search</button>
</form>
${layout.signedIn ? html`<form method="post" action="/logout"><button type="submit">Sign out</button></form>` : ''}
</header>
<main id="main" tabindex="-1">
${body}
</main>
<footer>${last
    ? html`Last refresh finished <time datetime="${last.finishedAt}">${when(last.finishedAt)}</time> in ${duration(last.durationMs / 1000)}: ${last.images} images, ${last.sourceErrors} source errors.`
    : 'No refresh recorded by this process yet.'}${layout.refresh.running ? ' A refresh is running.' : ''} Refreshes every ${duration(layout.refresh.intervalSeconds)}.${layout.refresh.lastFailure ? html` <span class="error">The last refresh failed at ${when(layout.refresh.lastFailure.at)}: ${layout.refresh.lastFailure.message}</span>` : ''}</footer>
</body>
</html>`}\n`;
}

// ─── Formatting ───

/** `2026-12-04 10:15 UTC`: one time zone for a whole team. */
export function when(iso: string | undefined): string {
  if (!iso) return '–';
  return iso.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC');
}

/** Seconds as a person reads them: `45 s`, `12 min`, `5 h 3 min`, `3 d 4 h`. */
export function duration(seconds: number | undefined): string {
  if (seconds === undefined) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.round((s % 86_400) / 3600)} h`;
}

const imageHref = (digest: string) => `/images/${encodeURIComponent(digest)}`;
const shortDigest = (d: string) => d.replace(/^((?:lock:)?sha256:[0-9a-f]{12})[0-9a-f]+(:[a-z0-9]+)?$/, '$1…$2');

function severity(s: string | undefined): Html {
  const name = (s ?? 'unknown').toLowerCase();
  return html`<span class="badge sev-${/^[a-z]+$/.test(name) ? name : 'unknown'}">${name}</span>`;
}

function table(label: string, head: Array<string | [string, 'num']>, rows: Html[], empty: string): Html {
  if (rows.length === 0) return html`<p class="muted">${empty}</p>`;
  return html`<div class="table-wrap" role="region" aria-label="${label}" tabindex="0"><table${head.length > 3 ? new Html(' class="wide"') : ''}>
<caption>${label}</caption>
<thead><tr>${head.map((h) => (Array.isArray(h) ? html`<th scope="col" class="num">${h[0]}</th>` : html`<th scope="col">${h}</th>`))}</tr></thead>
<tbody>${rows}</tbody>
</table></div>`;
}

function origins(list: OriginView[]): Html {
  if (list.length === 0) return html`<span class="muted">none</span>`;
  return html`<ul class="plain">${list.map((o) => html`<li><code>${o.reference}</code>${o.state !== 'current' ? html` <span class="badge stale">${o.state}</span>` : ''}</li>`)}</ul>`;
}

function deployments(list: DeploymentView[]): Html {
  if (list.length === 0) return html`<span class="muted">not seen in any manifest</span>`;
  return html`<ul class="plain">${list.map((d) => html`<li><code>${d.file}</code>: ${d.workload}${d.container ? html` (container ${d.container})` : ''}${d.stale ? html` <span class="badge stale">stale</span>` : ''}</li>`)}</ul>`;
}

function imageLink(i: { digest: string; name: string }): Html {
  return html`<a href="${imageHref(i.digest)}">${i.name}</a><br><code>${shortDigest(i.digest)}</code>`;
}

function staleNotice(sources: SourceStatus[]): Html {
  const stale = sources.filter((s) => s.stale);
  if (stale.length === 0) return html``;
  return html`<div class="notice" role="status"><p><strong>${stale.length} ${stale.length === 1 ? 'source' : 'sources'} could not be read</strong>; what they last showed is kept, marked stale:</p>
<ul class="plain">${stale.map((s) => html`<li><code>${s.source}</code>: last good read ${s.lastGoodRead ? html`<time datetime="${s.lastGoodRead}">${when(s.lastGoodRead)}</time>` : 'never'}; ${s.error ?? ''}</li>`)}</ul></div>`;
}

// ─── The pages ───

export function overviewPage(layout: Layout, summary: FleetSummary, images: ImageSummary[], sources: SourceStatus[]): string {
  const t = summary.timeToPatch;
  const severities = Object.entries(summary.openFixes.bySeverity).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const body = html`<h1>Fleet overview</h1>
${staleNotice(sources)}
<dl class="cards">
<div><dt>Images</dt><dd data-metric="images">${summary.images}</dd></div>
<div><dt>Packages (distinct versions)</dt><dd data-metric="packages">${summary.packages}</dd></div>
<div><dt>Open security fixes</dt><dd data-metric="open-fixes">${summary.openFixes.total}</dd></div>
<div><dt>Median time to patch</dt><dd data-metric="median-time-to-patch">${duration(t.medianSeconds)}</dd></div>
<div><dt>95th percentile time to patch</dt><dd data-metric="p95-time-to-patch">${duration(t.p95Seconds)}</dd></div>
<div><dt>Stale images</dt><dd data-metric="stale-images">${summary.staleImages}</dd></div>
</dl>
<h2>Open security fixes by severity</h2>
${table('Open security fixes by severity: advisories with a fix in the archive, counted once per image', ['Severity', ['Open fixes', 'num']],
    severities.map(([s, n]) => html`<tr><td>${severity(s)}</td><td class="num" data-severity="${s}">${n}</td></tr>`), 'No image has an advisory whose fix the archive serves.')}
<h2>Time to patch</h2>
<p>${t.resolved} ${t.resolved === 1 ? 'advisory was' : 'advisories were'} fixed in an image after the fix was seen in the archive: median ${duration(t.medianSeconds)}, 95th percentile ${duration(t.p95Seconds)}.
${t.deployed} reached a manifest: median ${duration(t.deployMedianSeconds)}, 95th percentile ${duration(t.deployP95Seconds)}. <a href="/timeline">See the patch timeline</a>.</p>
<h2>Images</h2>
${table(`All ${images.length} images`, ['Image', 'Source', 'Where found', 'Platform', ['Packages', 'num'], ['Open fixes', 'num'], 'State'],
    images.map((i) => html`<tr data-digest="${i.digest}"><td>${imageLink(i)}</td><td>${i.source}</td><td>${origins(i.origins)}</td><td>${i.platform}</td><td class="num">${i.packageCount}</td><td class="num">${i.openFixes}</td><td>${imageState(i)}</td></tr>`),
    'No image yet: the first refresh may still be running, or the config names no source (see Sources).')}`;
  return page(layout, 'Fleet overview', '/', body);
}

function imageState(i: ImageSummary): Html {
  if (i.error) return html`<span class="badge sev-critical">unreadable</span> ${i.error}`;
  if (i.stale) return html`<span class="badge stale">stale</span> last read ${when(i.lastGoodRead)}`;
  return html`<span class="badge ok">current</span>`;
}

export function searchPage(layout: Layout, text: string, result?: { error: string } | { query: SearchQuery; hits: PackageHit[] | CveHit[] }): string {
  let body: Html;
  if (result === undefined) {
    body = html`<h1>Search the fleet</h1><p>Type a package (<code>libssl3</code>, or <code>libssl3@3.0.17-1~deb12u2</code> for one version) or an advisory id (<code>CVE-2026-1111</code>) in the search box: every image that contains it, and where each runs.</p>`;
  } else if ('error' in result) {
    body = html`<h1>Search the fleet</h1><p class="error" role="alert">${result.error}</p>`;
  } else if ('cve' in result.query) {
    const hits = result.hits as CveHit[];
    body = html`<h1>Images affected by ${result.query.cve}</h1>
<p data-metric="hits">${hits.length} ${hits.length === 1 ? 'image' : 'images'}</p>
${table(`Images affected by ${result.query.cve}`, ['Image', 'Package', 'Installed', 'Fixed in', 'Fix available', 'Severity', 'Where found', 'Runs in'],
      hits.flatMap((h) => h.findings.map((f) => html`<tr data-digest="${h.digest}"><td>${imageLink(h)}</td><td>${f.package}</td><td><code>${f.installed}</code></td><td>${f.fixed ? html`<code>${f.fixed}</code>` : '–'}</td><td>${f.fixAvailable ? 'yes' : 'no'}</td><td>${severity(f.severity)}</td><td>${origins(h.origins)}</td><td>${deployments(h.deployments)}</td></tr>`)),
      'No image in the fleet is affected.')}`;
  } else {
    const q = result.query;
    const hits = result.hits as PackageHit[];
    const what = q.version ? `${q.package} ${q.version}` : q.package;
    body = html`<h1>Images containing ${what}</h1>
<p data-metric="hits">${hits.length} ${hits.length === 1 ? 'image' : 'images'}</p>
${table(`Images containing ${what}`, ['Image', 'Version', 'Architecture', 'Source package', 'Where found', 'Runs in'],
      hits.map((h) => html`<tr data-digest="${h.digest}"><td>${imageLink(h)}</td><td><code>${h.installed.version}</code></td><td>${h.installed.architecture}</td><td>${h.installed.source} <code>${h.installed.sourceVersion}</code></td><td>${origins(h.origins)}</td><td>${deployments(h.deployments)}</td></tr>`),
      'No image in the fleet contains it.')}`;
  }
  return page(layout, 'Search', '/search', body, text);
}

function findingsTable(findings: FindingView[]): Html {
  return table('Advisories affecting this image', ['Advisory', 'Package', 'Installed', 'Fixed in', 'Fix available', 'Severity', 'First seen'],
    findings.map((f) => html`<tr><td><a href="/search?q=${encodeURIComponent(f.id)}">${f.id}</a></td><td>${f.package}</td><td><code>${f.installed}</code></td><td>${f.fixed ? html`<code>${f.fixed}</code>` : '–'}</td><td>${f.fixAvailable ? `yes, since ${when(f.fixFirstSeen)}` : 'no'}</td><td>${severity(f.severity)}</td><td>${when(f.firstSeen)}</td></tr>`),
    'No known advisory affects its packages.');
}

export function imagePage(layout: Layout, d: ImageDetail): string {
  const i = d.image;
  const body = html`<h1>${i.name} <span class="muted">(${i.platform})</span></h1>
${d.listed ? '' : html`<p class="notice" role="status">No origin points at this digest any more: it is kept for its history.</p>`}
<dl class="cards">
<div><dt>Digest</dt><dd><code>${i.digest}</code></dd></div>
<div><dt>Packages</dt><dd data-metric="packages">${i.packageCount}</dd></div>
<div><dt>Open fixes</dt><dd data-metric="open-fixes">${i.openFixes}</dd></div>
<div><dt>Packages read from</dt><dd>${i.inventory}${i.release ? html` <span class="muted">(${i.release})</span>` : ''}</dd></div>
<div><dt>First seen</dt><dd><time datetime="${d.firstSeen}">${when(d.firstSeen)}</time></dd></div>
<div><dt>State</dt><dd>${imageState(i)}</dd></div>
</dl>
<h2>Where it is found</h2>
${table('Origins that pointed at this digest', ['Origin', 'Kind', 'State', 'Points here now'],
    d.origins.map((o) => html`<tr><td><code>${o.reference}</code></td><td>${o.kind}</td><td>${o.state}</td><td>${o.pointsHere ? 'yes' : 'no'}</td></tr>`), 'No origin.')}
<h2>Where it runs</h2>
${table('Workloads seen running this digest', ['Manifest', 'Workload', 'Container', 'Reference', 'Since', 'Now'],
    d.deployments.map((x) => html`<tr><td><code>${x.file}</code></td><td>${x.workload}</td><td>${x.container ?? '–'}</td><td><code>${x.reference}</code></td><td>${when(x.firstSeen)}</td><td>${x.current ? (x.stale ? 'stale' : 'yes') : 'no'}</td></tr>`),
    'No deployment manifest runs this digest.')}
<h2>Advisories</h2>
${findingsTable(d.findings)}
<h2>History of digests</h2>
${table('The digests its origins pointed at, oldest first', ['Origin', 'Digest', 'Since', 'Until'],
    d.history.map((h) => html`<tr><td><code>${h.origin}</code></td><td>${h.digest === i.digest ? html`<code>${shortDigest(h.digest)}</code> (this one)` : html`<a href="${imageHref(h.digest)}"><code>${shortDigest(h.digest)}</code></a>`}</td><td>${when(h.since)}</td><td>${h.until ? when(h.until) : 'now'}</td></tr>`),
    'No history.')}
<h2>Layers</h2>
<p class="muted">The store records an image's packages, not its layers: <code>pith inspect</code> shows them.</p>
<h2>Packages</h2>
${table(`The ${d.packages.length} installed packages`, ['Package', 'Version', 'Architecture', 'Source'],
    d.packages.map((p) => html`<tr><td>${p.name}</td><td><code>${p.version}</code></td><td>${p.architecture}</td><td>${p.source} <code>${p.sourceVersion}</code></td></tr>`),
    i.error ? `Its packages could not be read: ${i.error}` : 'No package known.')}`;
  return page(layout, i.name, '', body);
}

/**
 * One row per fixed advisory: from when it was first seen to when an image without it was, the stretch from the
 * fix's availability to the fixed image drawn darker, and a mark where a manifest first ran the fixed image.
 */
export function timelineChart(events: PatchEvent[]): Html {
  if (events.length === 0) return html``;
  const times = events.flatMap((e) => [e.firstSeen, e.fixAvailableAt, e.fixedAt, e.deployedAt]).filter((t): t is string => t !== undefined).map(Date.parse);
  const t0 = Math.min(...times);
  const t1 = Math.max(...times, t0 + 1000);
  const left = 230;
  const width = 800;
  const plot = width - left - 20;
  const row = 30;
  const top = 30;
  const height = top + events.length * row + 30;
  const x = (iso: string) => (left + ((Date.parse(iso) - t0) / (t1 - t0)) * plot).toFixed(1);
  // The origin's last two path parts tell the rows of one advisory apart (`fleet/web:1`, `web/pith.yaml`).
  const label = (e: PatchEvent) => `${e.id} · ${e.origin.split('/').slice(-2).join('/')}`;
  return html`<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">
<title id="chart-title">Patch timeline</title>
<desc id="chart-desc">For each fixed advisory, a bar from when it was first seen to when an image without it was; the dark part starts when the fix was available in the archive; a circle marks when a manifest first ran the fixed image.</desc>
<text x="${left}" y="18">${when(new Date(t0).toISOString())}</text>
<text x="${width - 20}" y="18" text-anchor="end">${when(new Date(t1).toISOString())}</text>
${events.map((e, n) => {
    const y = top + n * row;
    const fixFrom = e.fixAvailableAt ?? e.firstSeen;
    return html`<g>
<text x="${left - 8}" y="${y + 15}" text-anchor="end">${label(e).length > 34 ? `${label(e).slice(0, 33)}…` : label(e)}</text>
<rect x="${x(e.firstSeen)}" y="${y + 5}" width="${Math.max(1, Number(x(e.fixedAt)) - Number(x(e.firstSeen))).toFixed(1)}" height="14" fill="#b8c4d0"><title>${e.id}: first seen ${when(e.firstSeen)}</title></rect>
<rect x="${x(fixFrom)}" y="${y + 5}" width="${Math.max(2, Number(x(e.fixedAt)) - Number(x(fixFrom))).toFixed(1)}" height="14" fill="#9c3300"><title>${e.id}: fix available ${when(e.fixAvailableAt)}, fixed image ${when(e.fixedAt)} (${duration(e.secondsToImage)})</title></rect>
${e.deployedAt ? html`<circle cx="${x(e.deployedAt)}" cy="${y + 12}" r="6" fill="#1e6b34"><title>${e.id}: running ${when(e.deployedAt)} (${duration(e.secondsToDeploy)})</title></circle>` : ''}
</g>`;
  })}
</svg>`;
}

export function timelinePage(layout: Layout, events: PatchEvent[], summary: FleetSummary): string {
  const t = summary.timeToPatch;
  const body = html`<h1>Patch timeline</h1>
<p>Time to patch: median ${duration(t.medianSeconds)}, 95th percentile ${duration(t.p95Seconds)} to an image (${t.resolved} fixed); median ${duration(t.deployMedianSeconds)}, 95th percentile ${duration(t.deployP95Seconds)} to a manifest (${t.deployed}).</p>
${events.length > 0 ? html`<figure class="chart">${timelineChart(events)}<figcaption class="muted">Grey: known, no fix yet; dark: fix available, not yet in an image; circle: running. The table below has the same data.</figcaption></figure>` : ''}
<h2>Fixed advisories</h2>
${table('Advisories fixed in an image, oldest fix first', ['Advisory', 'Image', 'Severity', 'First seen', 'Fix available', 'Fixed image', ['To image', 'num'], 'Running', ['To running', 'num']],
    events.map((e) => html`<tr><td>${e.id}</td><td><a href="${imageHref(e.fixedDigest)}">${e.image}</a><br><code>${e.origin}</code></td><td>${severity(e.severity)}</td><td>${when(e.firstSeen)}</td><td>${when(e.fixAvailableAt)}</td><td>${when(e.fixedAt)}</td><td class="num">${duration(e.secondsToImage)}</td><td>${when(e.deployedAt)}</td><td class="num">${duration(e.secondsToDeploy)}</td></tr>`),
    'No advisory has been fixed in an image yet.')}`;
  return page(layout, 'Patch timeline', '/timeline', body);
}

export function sourcesPage(layout: Layout, sources: SourceStatus[], refresh: Layout['refresh'], autoUpdates?: AutoUpdateRecord[]): string {
  const body = html`<h1>Sources</h1>
${staleNotice(sources)}
${refresh.lastFailure ? html`<p class="error" role="alert">The last refresh failed at ${when(refresh.lastFailure.at)}: ${refresh.lastFailure.message}</p>` : ''}
${table('Every source read', ['Source', 'State', 'Last good read', 'Last error'],
    sources.map((s) => html`<tr><td><code>${s.source}</code></td><td>${s.stale ? html`<span class="badge stale">stale</span>` : html`<span class="badge ok">ok</span>`}</td><td>${when(s.lastGoodRead)}</td><td>${s.error ? html`${when(s.errorAt)}: ${s.error}` : '–'}</td></tr>`),
    'No source has been read yet.')}
${autoUpdates ? html`<h2>Automatic updates</h2>
${table('pith update runs for specs with a fix available, most recent first', ['When', 'Spec', 'Advisories', 'Result'],
    autoUpdates.map((u) => html`<tr><td>${when(u.at)}</td><td><code>${u.spec}</code></td><td>${u.advisories.join(' ')}</td><td>${u.error
      ? html`<span class="badge sev-critical">failed</span> ${u.error}`
      : u.updated ? html`<a href="${imageHref(u.newDigest ?? u.digest)}"><code>${shortDigest(u.newDigest ?? '')}</code></a>${u.pushed.length ? html`, pushed ${u.pushed.join(' ')}` : ''}` : 'nothing to update'}</td></tr>`),
    'None yet: no spec\'s image has had a fix available.')}` : ''}`;
  return page(layout, 'Sources', '/sources', body);
}

export function loginPage(layout: Layout, next: string, error?: string): string {
  const body = html`<h1>Sign in</h1>
<p>This service asks for the token it was started with (PITH_SERVE_TOKEN).</p>
${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<form method="post" action="/login">
<input type="hidden" name="next" value="${next}">
<p><label for="token">Access token</label><br><input type="password" id="token" name="token" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p>
</form>`;
  return page({ ...layout, signedIn: false }, 'Sign in', '', body);
}

export function notFoundPage(layout: Layout, status: number, message: string): string {
  return page(layout, status === 404 ? 'Not found' : 'Error', '', html`<h1>${status === 404 ? 'Not found' : status === 400 ? 'Bad request' : 'Error'}</h1><p class="error" role="alert">${message}</p><p><a href="/">Back to the overview</a></p>`);
}
