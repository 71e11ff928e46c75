/**
 * /metrics in Prometheus' text format, on a Registry of this service's own (never prom-client's global one: a
 * library user may run two services, or have metrics of their own). The fleet's figures are set from the store
 * after each refresh (and at start), so a scrape costs no query; the refresh's own figures as refreshes end.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RefreshRecord } from './store.ts';
import type { FleetStore } from './store.ts';

const HOUR = 3600;
/** Time to patch is hours to weeks: a fix the same day, within a week, within a month, or late. */
const PATCH_BUCKETS = [HOUR, 6 * HOUR, 24 * HOUR, 3 * 24 * HOUR, 7 * 24 * HOUR, 14 * 24 * HOUR, 30 * 24 * HOUR, 90 * 24 * HOUR];
const REFRESH_BUCKETS = [0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800];

export class ServeMetrics {
  readonly registry = new Registry();
  private readonly images = new Gauge({ name: 'pith_serve_images', help: 'Images in the fleet now (stale ones included)', registers: [this.registry] });
  private readonly staleImages = new Gauge({ name: 'pith_serve_stale_images', help: 'Images kept as last read because their source failed', registers: [this.registry] });
  private readonly imageErrors = new Gauge({ name: 'pith_serve_image_errors', help: 'Images whose packages could not be read', registers: [this.registry] });
  private readonly packages = new Gauge({ name: 'pith_serve_packages', help: 'Distinct installed packages (name, version, architecture) across the fleet', registers: [this.registry] });
  private readonly openFixes = new Gauge({
    name: 'pith_serve_open_security_fixes',
    help: 'Advisories with a fix in the archive that an image still has, per image, by severity (unknown when the advisory gives none)',
    labelNames: ['severity'],
    registers: [this.registry],
  });
  private readonly timeToPatch = new Histogram({
    name: 'pith_serve_time_to_patch_seconds',
    help: 'From a fix first seen available to the first image without the advisory (stage=image), and to a manifest running it (stage=deploy)',
    labelNames: ['stage'],
    buckets: PATCH_BUCKETS,
    registers: [this.registry],
  });
  private readonly refreshDuration = new Histogram({ name: 'pith_serve_refresh_duration_seconds', help: 'Duration of each refresh (sources, feeds, archive, recording)', buckets: REFRESH_BUCKETS, registers: [this.registry] });
  private readonly refreshErrors = new Counter({
    name: 'pith_serve_refresh_errors_total',
    help: 'Errors met by refreshes: kind=source (a registry, spec, manifest, feed or archive not read), image (an image\'s packages not read), refresh (the refresh failed as a whole)',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  private readonly refreshes = new Counter({ name: 'pith_serve_refreshes_total', help: 'Refreshes recorded by this process', registers: [this.registry] });
  private readonly lastRefresh = new Gauge({ name: 'pith_serve_last_refresh_timestamp_seconds', help: 'When the last recorded refresh finished (Unix time)', registers: [this.registry] });
  private readonly lastSourceErrors = new Gauge({ name: 'pith_serve_last_refresh_source_errors', help: 'Sources the last refresh could not read', registers: [this.registry] });

  constructor() {
    // Present from the first scrape, at 0, so an alert on their increase has a series to read.
    for (const kind of ['source', 'image', 'refresh']) this.refreshErrors.inc({ kind }, 0);
    for (const stage of ['image', 'deploy']) this.timeToPatch.zero({ stage });
  }

  /** Sets the fleet's figures from the store. */
  async update(store: FleetStore): Promise<void> {
    const summary = await store.fleetSummary();
    const timeline = await store.patchTimeline();
    this.images.set(summary.images);
    this.staleImages.set(summary.staleImages);
    this.imageErrors.set(summary.imageErrors);
    this.packages.set(summary.packages);
    this.openFixes.reset();
    for (const [severity, n] of Object.entries(summary.openFixes.bySeverity)) this.openFixes.set({ severity }, n);
    this.timeToPatch.reset();
    for (const stage of ['image', 'deploy']) this.timeToPatch.zero({ stage });
    for (const e of timeline) {
      if (e.secondsToImage !== undefined) this.timeToPatch.observe({ stage: 'image' }, e.secondsToImage);
      if (e.secondsToDeploy !== undefined) this.timeToPatch.observe({ stage: 'deploy' }, e.secondsToDeploy);
    }
    if (summary.lastRefresh) this.lastRefresh.set(Date.parse(summary.lastRefresh.finishedAt) / 1000);
  }

  refreshed(refresh: RefreshRecord, seconds: number): void {
    this.refreshes.inc();
    this.refreshDuration.observe(seconds);
    this.refreshErrors.inc({ kind: 'source' }, refresh.sourceErrors);
    this.refreshErrors.inc({ kind: 'image' }, refresh.imageErrors);
    this.lastSourceErrors.set(refresh.sourceErrors);
    this.lastRefresh.set(Date.parse(refresh.finishedAt) / 1000);
  }

  failed(seconds: number): void {
    this.refreshDuration.observe(seconds);
    this.refreshErrors.inc({ kind: 'refresh' });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
