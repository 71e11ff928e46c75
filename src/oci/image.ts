/**
 * The image model every transport writes from (and any future reader produces): a manifest, a config and layers,
 * each held as the exact bytes that are hashed and stored. JSON documents are serialised once, with
 * `canonicalJson`, and never re-encoded, so a digest always names the bytes on disk.
 */
import { Writable } from 'node:stream';
import type { FsEntry } from '../fs/entry.ts';
import { concat } from '../fs/tar.ts';
import { PithError } from '../errors.ts';
import { canonicalJson } from '../json.ts';
import { describe, digestOf, MediaType, noteDigest, type Descriptor, type Digest, type Platform } from './digest.ts';
import { checkedChunks, fileChunks, gatherChunks, hashChunks, holdable } from './blob-stream.ts';
import { compressLayer, type CompressedLayer } from './gzip.ts';
import { planLayerTar } from './tar.ts';

export interface Layer {
  mediaType: string;
  /** Of the compressed blob. */
  digest: Digest;
  size: number;
  /** SHA-256 of the uncompressed tar: what the config's rootfs lists and runtimes verify after decompressing. */
  diffId: Digest;
  /** Bytes of the uncompressed tar, when known (what a node's disk holds after pulling). */
  uncompressedSize?: number;
  bytes(): Promise<Uint8Array>;
  /**
   * The same bytes as they arrive from where they are kept (a registry), for a writer that stores them without
   * holding them whole: it yields exactly the blob, in order, and throws before it ends unless the bytes match
   * `digest` and `size`. Writers that have it prefer it to `bytes()`; a layer made from another by replacing
   * `bytes` must drop it.
   */
  stream?(): AsyncIterable<Uint8Array>;
  /** The config history's `created_by` for this layer, e.g. the packages in it. */
  history?: string;
}

export interface OciConfig {
  created: string;
  architecture: string;
  variant?: string;
  os: string;
  config: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    WorkingDir?: string;
    ExposedPorts?: Record<string, Record<string, never>>;
    Labels?: Record<string, string>;
  };
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history: Array<{ created: string; created_by?: string }>;
}

export interface OciManifest {
  schemaVersion: 2;
  /** OCI's, or docker's schema 2 (`DockerMediaType.manifest`) for an image read from a registry or layout. */
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface OciIndex {
  schemaVersion: 2;
  /** OCI's, or docker's manifest list (`DockerMediaType.manifestList`) for an index read from elsewhere. */
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface Image {
  manifest: OciManifest;
  manifestBytes: Uint8Array;
  /** Of `manifestBytes`: the image's name by content. */
  digest: Digest;
  config: OciConfig;
  configBytes: Uint8Array;
  layers: Layer[];
  platform: Platform;
}

export interface ImageIndex {
  index: OciIndex;
  indexBytes: Uint8Array;
  digest: Digest;
  images: Image[];
}

export function isImageIndex(x: Image | ImageIndex): x is ImageIndex {
  return 'indexBytes' in x;
}

export interface ImageConfigInput {
  /** OCI (Go) architecture name: amd64, arm64, arm, 386, ppc64le, s390x, riscv64, … */
  architecture: string;
  /** Defaults to v8 for arm64, the variant registries and docker match on. */
  variant?: string;
  os: 'linux';
  user?: string;
  /** "NAME=value", in order. */
  env?: string[];
  entrypoint?: string[];
  cmd?: string[];
  workingDir?: string;
  /** "8080/tcp", "53/udp", or a bare port number (tcp). */
  exposedPorts?: Array<string | number>;
  labels?: Record<string, string>;
}

export interface LayerInput {
  entries: readonly FsEntry[];
  comment?: string;
}

export interface BuildImageOptions {
  /** Bottom first. Entries become a fresh layer; a `Layer` (e.g. from the cache) is used as is. */
  layers: ReadonlyArray<LayerInput | Layer>;
  config: ImageConfigInput;
  /** Clamps every mtime and gives `created`. */
  sourceDateEpoch: number;
  /** Manifest annotations, e.g. `org.opencontainers.image.title`, `.source`. `.created` is always set. */
  annotations?: Record<string, string>;
}

const ANNOTATION_CREATED = 'org.opencontainers.image.created';

/** RFC 3339 in UTC without fractional seconds, as Go's time.Time marshals a whole second. */
export function createdFromEpoch(epoch: number): string {
  if (!Number.isSafeInteger(epoch) || epoch < 0) {
    throw new PithError('OCI_BAD_EPOCH', `expected SOURCE_DATE_EPOCH to be a non-negative whole number of seconds, found ${epoch}`);
  }
  return new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');
}

/** The platform of a Debian architecture, in OCI's (Go's) names. */
export function platformForDebianArch(arch: string): Platform {
  const table: Record<string, Platform> = {
    amd64: { architecture: 'amd64', os: 'linux' },
    arm64: { architecture: 'arm64', os: 'linux', variant: 'v8' },
    armhf: { architecture: 'arm', os: 'linux', variant: 'v7' },
    armel: { architecture: 'arm', os: 'linux', variant: 'v5' },
    i386: { architecture: '386', os: 'linux' },
    ppc64el: { architecture: 'ppc64le', os: 'linux' },
    s390x: { architecture: 's390x', os: 'linux' },
    riscv64: { architecture: 'riscv64', os: 'linux' },
    mips64el: { architecture: 'mips64le', os: 'linux' },
    loong64: { architecture: 'loong64', os: 'linux' },
  };
  const p = table[arch];
  if (p === undefined) {
    throw new PithError('OCI_UNKNOWN_ARCH', `expected a Debian architecture with an OCI platform (${Object.keys(table).join(', ')}), found "${arch}"`);
  }
  return { ...p };
}

/**
 * Compressed layer blobs by the digest of the tar they compress. The gzip output is a function of the tar and
 * `GZIP_SETTINGS` alone, so a cache keyed by both may hand back a blob instead of compressing again. Blobs are kept
 * in files and handed back as layers that stream them, so neither side ever holds one whole.
 */
export interface LayerBlobCache {
  /** A layer over the blob made before for the tar `diffId` (of `uncompressedSize` bytes), or null. */
  get(diffId: Digest, uncompressedSize: number): Promise<Layer | null>;
  /** Keeps the blob `write` compresses into the stream it is handed, and returns a layer over it. */
  put(diffId: Digest, write: (out: Writable) => Promise<CompressedLayer>): Promise<Layer>;
}

/**
 * A gzip layer built from filesystem entries. With `blobCache`, the tar is first only hashed (its diffId names
 * the blob in the cache); when the cache lacks it, the tar is made again and compressed as a stream into the cache
 * — no layer is ever held whole, whatever its size. Without one, the blob is gathered in memory (small images,
 * tests).
 */
export async function layerFromEntries(entries: readonly FsEntry[], options: { sourceDateEpoch: number; comment?: string; blobCache?: LayerBlobCache }): Promise<Layer> {
  const tar = planLayerTar(entries, { sourceDateEpoch: options.sourceDateEpoch });
  const history = options.comment === undefined ? {} : { history: options.comment };
  if (options.blobCache === undefined) {
    const chunks: Uint8Array[] = [];
    const made = await compressLayer(tar.pieces(), new Writable({
      write(chunk: Uint8Array, _encoding, done) {
        chunks.push(chunk);
        done();
      },
    }));
    return layerFromBlob(concat(chunks), { diffId: made.diffId, uncompressedSize: made.uncompressedSize, ...history });
  }
  const { digest: diffId, size } = await hashChunks(tar.pieces({ transient: true }));
  const cached = await options.blobCache.get(diffId, size);
  if (cached) return { ...cached, ...history };
  const made = await options.blobCache.put(diffId, async (out) => {
    const result = await compressLayer(tar.pieces(), out);
    if (result.diffId !== diffId) {
      throw new PithError('CONTENT_CHANGED', `expected the layer tar${options.comment ? ` of ${options.comment}` : ''} to be made again with the digest ${diffId}, found ${result.diffId}: a file it holds changed during the build`);
    }
    return result;
  });
  return { ...made, ...history };
}

/** A layer from a compressed blob already at hand (e.g. the cache); `diffId` is trusted, the digest computed. */
export function layerFromBlob(blob: Uint8Array, options: { diffId: Digest; uncompressedSize?: number; history?: string; mediaType?: string }): Layer {
  const digest = digestOf(blob);
  noteDigest(blob, digest);
  return {
    mediaType: options.mediaType ?? MediaType.layerGzip,
    digest,
    size: blob.byteLength,
    diffId: options.diffId,
    ...(options.uncompressedSize === undefined ? {} : { uncompressedSize: options.uncompressedSize }),
    bytes: async () => blob,
    ...(options.history === undefined ? {} : { history: options.history }),
  };
}

/**
 * A layer whose compressed blob is a file (the build cache's): streamed from disk and checked against `digest` and
 * `size` as it is read, as `Layer.stream` promises; `bytes()` only for a blob that fits in a buffer.
 */
export function layerFromFile(path: string, options: { digest: Digest; size: number; diffId: Digest; uncompressedSize?: number; history?: string }): Layer {
  const { digest, size } = options;
  const stream = () => checkedChunks(fileChunks(path), { digest, size }, 'OCI_LAYER_MISMATCH', path);
  return {
    mediaType: MediaType.layerGzip,
    digest,
    size,
    diffId: options.diffId,
    ...(options.uncompressedSize === undefined ? {} : { uncompressedSize: options.uncompressedSize }),
    bytes: async () => {
      holdable({ digest, size }, path);
      return noteDigest(await gatherChunks(stream()), digest);
    },
    stream,
    ...(options.history === undefined ? {} : { history: options.history }),
  };
}

function isLayer(x: LayerInput | Layer): x is Layer {
  return 'diffId' in x;
}

export async function buildImage(options: BuildImageOptions): Promise<Image> {
  const created = createdFromEpoch(options.sourceDateEpoch);
  const c = options.config;
  if (c.os !== 'linux') throw new PithError('OCI_BAD_CONFIG', `expected os "linux", found ${JSON.stringify(c.os)}`);
  if (!/^[a-z0-9]+$/.test(c.architecture)) {
    throw new PithError('OCI_BAD_CONFIG', `expected an OCI architecture name such as "amd64" or "arm64", found ${JSON.stringify(c.architecture)}`);
  }
  const variant = c.variant ?? (c.architecture === 'arm64' ? 'v8' : undefined);
  const platform: Platform = { architecture: c.architecture, os: c.os, ...(variant === undefined ? {} : { variant }) };

  // Layers are independent, so their compression runs in parallel on the thread pool; order is kept.
  const layers = await Promise.all(options.layers.map((l) =>
    isLayer(l) ? l : layerFromEntries(l.entries, { sourceDateEpoch: options.sourceDateEpoch, comment: l.comment })));

  for (const e of c.env ?? []) {
    if (!/^[^=]+=/.test(e)) throw new PithError('OCI_BAD_CONFIG', `expected each env entry as "NAME=value", found ${JSON.stringify(e)}`);
  }
  const config: OciConfig = {
    created,
    architecture: platform.architecture,
    ...(variant === undefined ? {} : { variant }),
    os: platform.os,
    config: {
      User: c.user,
      Env: c.env,
      Entrypoint: c.entrypoint,
      Cmd: c.cmd,
      WorkingDir: c.workingDir,
      ExposedPorts: c.exposedPorts === undefined ? undefined : exposedPorts(c.exposedPorts),
      Labels: c.labels,
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((l) => ({ created, ...(l.history === undefined ? {} : { created_by: l.history }) })),
  };
  const configBytes = encode(config);

  const annotations = { ...options.annotations, [ANNOTATION_CREATED]: created };
  checkAnnotations(annotations);
  const manifest: OciManifest = {
    schemaVersion: 2,
    mediaType: MediaType.manifest,
    config: describe(MediaType.config, configBytes),
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    annotations,
  };
  const manifestBytes = encode(manifest);
  return {
    manifest,
    manifestBytes,
    digest: digestOf(manifestBytes),
    config: JSON.parse(new TextDecoder().decode(configBytes)) as OciConfig,
    configBytes,
    layers,
    platform,
  };
}

/** An image index over per-platform images; two images for one platform would be ambiguous to every puller. */
export function buildIndex(images: readonly Image[], options: { annotations?: Record<string, string> } = {}): ImageIndex {
  if (images.length === 0) throw new PithError('OCI_EMPTY_INDEX', 'expected at least one image for an image index, found none');
  const seen = new Map<string, Digest>();
  for (const img of images) {
    const key = platformString(img.platform);
    const other = seen.get(key);
    if (other !== undefined) {
      throw new PithError('OCI_DUPLICATE_PLATFORM', `expected one image per platform in an index, found two for ${key}: ${other} and ${img.digest}`);
    }
    seen.set(key, img.digest);
  }
  if (options.annotations) checkAnnotations(options.annotations);
  const index: OciIndex = {
    schemaVersion: 2,
    mediaType: MediaType.index,
    manifests: images.map((img) => describe(MediaType.manifest, img.manifestBytes, { platform: img.platform })),
    ...(options.annotations && Object.keys(options.annotations).length > 0 ? { annotations: options.annotations } : {}),
  };
  const indexBytes = encode(index);
  return { index, indexBytes, digest: digestOf(indexBytes), images: [...images] };
}

export function platformString(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

function exposedPorts(ports: ReadonlyArray<string | number>): Record<string, Record<string, never>> {
  const out: Record<string, Record<string, never>> = {};
  for (const p of ports) {
    const s = typeof p === 'number' ? `${p}/tcp` : /^\d+$/.test(p) ? `${p}/tcp` : p;
    const m = /^(\d+)\/(tcp|udp|sctp)$/.exec(s);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) {
      throw new PithError('OCI_BAD_CONFIG', `expected an exposed port like 8080, "8080/tcp" or "53/udp", found ${JSON.stringify(p)}`);
    }
    out[s] = {};
  }
  return out;
}

function checkAnnotations(a: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(a)) {
    if (typeof v !== 'string') throw new PithError('OCI_BAD_ANNOTATION', `expected annotation "${k}" to be a string, found ${JSON.stringify(v)}`);
  }
}

function encode(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value));
}
