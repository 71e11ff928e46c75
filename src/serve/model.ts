/**
 * What `pith serve` knows about a fleet, as plain data: the sources (`sources.ts`) produce it, the store
 * (`store.ts`) records it over time, the pages and the API read it back. No I/O here.
 */

/** One installed Debian package of one image. */
export interface FleetPackage {
  name: string;
  version: string;
  architecture: string;
  /** The source package and its version (advisories are matched by source). */
  source: string;
  sourceVersion: string;
}

/** Where an image was seen: a spec directory's lock, or a tag in a registry. */
export type ImageOrigin =
  | { kind: 'spec'; /** the spec file */ spec: string; /** its lock */ lock: string; /** the spec's `name:` */ name: string }
  | {
      kind: 'registry';
      /** HOST[:PORT] */
      registry: string;
      repository: string;
      tag: string;
      /** The digest of the index the tag names, when it names a multi-platform index (deployments may pin that). */
      index?: string;
    };

/**
 * One image of the fleet. A registry image is known by its manifest digest (for a multi-platform index, one
 * FleetImage per platform manifest, each with the index's tag in `origins`); a spec not (yet) found in a registry
 * is known by its lock (`digest` is `lock:sha256:…`, the lock file's digest), so the same lock is one image.
 */
export interface FleetImage {
  digest: string;
  /** `linux/amd64` and the like. */
  platform: string;
  /** The name a person knows it by: the spec's name, or the manifest's `org.opencontainers.image.title`, else REPOSITORY. */
  name: string;
  origins: ImageOrigin[];
  /** Where the package list came from. */
  inventory: 'lock' | 'sbom' | 'status' | 'none';
  /** The Debian release the packages are matched against (`bookworm`, `trixie`), when known. */
  release?: string;
  packages: FleetPackage[];
  /** Why the packages could not be read (the image stays in the inventory with this error). */
  error?: string;
}

/** A running workload and the image it pins, read from a deployment manifest (as `pith rollout` reads them). */
export interface Deployment {
  /** The manifest file. */
  file: string;
  /** `Deployment/web`, `service web` (compose) and the like. */
  workload: string;
  container?: string;
  /** The image reference as written, e.g. `registry.example/app@sha256:…` or `app:1.2`. */
  reference: string;
  /** The manifest digest it runs, when the reference pins one or it could be resolved. */
  digest?: string;
}

/** A source that could not be read in a refresh: kept, with the time of its last good read. */
export interface SourceError {
  /**
   * `registry 127.0.0.1:5000`, `spec ./web/pith.yaml`, `manifests ./deploy`: KIND TARGET. The store keeps (as
   * stale) what the last good read of that source showed: with `registry HOST[/REPOSITORY]`, the registry origins
   * there; with `spec PATH`, the spec origins whose spec file is PATH or below it; with `manifests PATH`, the
   * deployments read from PATH or below it.
   */
  source: string;
  message: string;
}

/** Everything one refresh of the sources saw, at one time. */
export interface FleetSnapshot {
  /** ISO 8601 time the refresh started. */
  takenAt: string;
  images: FleetImage[];
  deployments: Deployment[];
  errors: SourceError[];
  /**
   * Every source this refresh read without error, named as SourceError.source names them, so that a source with
   * nothing in it still shows its last good read. When absent the store takes the sources of the images' origins
   * (`registry HOST`, `spec FILE`) and of the deployments (`manifests FILE`).
   */
  sources?: string[];
}

/** One advisory that affects one package of one image, as a refresh saw it. */
export interface FleetFinding {
  digest: string;
  /** CVE id, else the advisory's own id. */
  id: string;
  package: string;
  installed: string;
  source: string;
  fixed?: string;
  /** The archive serves a fixed version now. */
  fixAvailable: boolean;
  severity?: string;
}
