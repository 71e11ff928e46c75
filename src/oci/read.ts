/**
 * Reading images back into the `Image`/`ImageIndex` model from the local transports — `oci:`, `oci-archive:` and
 * `docker-archive:` — and, through `readGraph`, from any store that hands out manifests and blobs by descriptor
 * (the registry reader uses it too). So every source copies to every destination through one model.
 *
 * Manifests, indexes and configs are read when the image is opened; layers stay where they are until a writer
 * asks for their bytes. Every byte is checked against the digest and size that name it before it is used, and the
 * manifest bytes are kept exactly as found, so a copy keeps the image's digest.
 */
import { promises as fs } from 'node:fs';
import { posix, resolve } from 'node:path';
import { gunzip as gunzipCb } from 'node:zlib';
import { promisify } from 'node:util';
import { PithError, type ErrorCode } from '../errors.ts';
import { canonicalJson } from '../json.ts';
import { describe, digestHex, digestOf, DockerMediaType, isDigest, knownDigest, MediaType, noteDigest, parseDigest, type Descriptor, type Digest, type Platform } from './digest.ts';
import { gzipLayer } from './gzip.ts';
import { platformString, type Image, type ImageIndex, type Layer, type OciConfig, type OciIndex, type OciManifest } from './image.ts';
import { OCI_LAYOUT, parseIndexJson, readIndexJson, REF_NAME, type IndexJson } from './layout.ts';
import { normaliseRepoTag } from './docker-archive.ts';

const gunzip = promisify(gunzipCb);

const INDEX_TYPES: ReadonlySet<string> = new Set([MediaType.index, DockerMediaType.manifestList]);
const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaType.manifest, DockerMediaType.manifest]);

/** Where `readGraph` gets content; each answer is already checked against the descriptor it was asked for. */
export interface ContentSource {
  /** Names the source in messages, e.g. "oci:out" or a registry URL. */
  where: string;
  manifest(d: Descriptor): Promise<Uint8Array>;
  blob(d: Descriptor): Promise<Uint8Array>;
  /** A blob as it arrives, checked as `Layer.stream` promises, for layers a writer can store without holding. */
  stream?(d: Descriptor): AsyncIterable<Uint8Array>;
}

/** Throws `code` unless `bytes` are exactly what `d` names (`digest`: theirs, when hashed as they arrived). */
export function checkContent(bytes: Uint8Array, d: Pick<Descriptor, 'digest' | 'size'>, code: ErrorCode, where: string, digest = knownDigest(bytes)): Uint8Array {
  noteDigest(bytes, digest);
  checkDigest(d, digest, bytes.byteLength, code, where);
  return bytes;
}

/** Throws `code` unless content of this digest and size is what `d` names. */
export function checkDigest(d: Pick<Descriptor, 'digest' | 'size'>, digest: Digest, size: number, code: ErrorCode, where: string): void {
  if (digest !== d.digest || (d.size !== undefined && size !== d.size)) {
    throw new PithError(code, `expected ${d.digest} (${d.size} bytes) from ${where}, found ${digest} (${size} bytes)`, {
      details: { expected: d.digest, found: digest, where },
    });
  }
}

/** The media type of a manifest or index: its descriptor's, else the one inside it. */
export function mediaTypeOf(bytes: Uint8Array, fallback?: string): string {
  if (fallback) return fallback;
  const parsed = parseJson(bytes, 'a manifest') as { mediaType?: unknown; manifests?: unknown };
  if (typeof parsed.mediaType === 'string') return parsed.mediaType;
  return Array.isArray(parsed.manifests) ? MediaType.index : MediaType.manifest;
}

/** An image or index from its top manifest's bytes (already verified), reading what it refers to from `source`. */
export async function readGraph(top: Descriptor, bytes: Uint8Array, source: ContentSource): Promise<Image | ImageIndex> {
  const mediaType = mediaTypeOf(bytes, top.mediaType);
  if (INDEX_TYPES.has(mediaType)) {
    const index = parseJson(bytes, `the index ${top.digest} in ${source.where}`) as OciIndex;
    if (index.schemaVersion !== 2 || !Array.isArray(index.manifests)) {
      throw new PithError('OCI_BAD_MANIFEST', `expected the index ${top.digest} in ${source.where} to have schemaVersion 2 and a "manifests" array`);
    }
    const images = await Promise.all(index.manifests.map(async (d, i) => {
      parseDigest(d?.digest, `manifests[${i}] of the index ${top.digest} in ${source.where}`);
      if (!MANIFEST_TYPES.has(d.mediaType)) {
        throw new PithError('OCI_UNSUPPORTED_MANIFEST', `expected the index ${top.digest} in ${source.where} to list image manifests, found ${d.mediaType} (${d.digest}) at manifests[${i}]`);
      }
      return readImageManifest(d, await source.manifest(d), source);
    }));
    return { index: { ...index, mediaType }, indexBytes: bytes, digest: top.digest, images };
  }
  if (MANIFEST_TYPES.has(mediaType)) return readImageManifest({ ...top, mediaType }, bytes, source);
  throw new PithError('OCI_UNSUPPORTED_MANIFEST', `expected an image manifest or index (${[...MANIFEST_TYPES, ...INDEX_TYPES].join(', ')}) at ${top.digest} in ${source.where}, found ${mediaType}`);
}

async function readImageManifest(d: Descriptor, bytes: Uint8Array, source: ContentSource): Promise<Image> {
  const where = `the manifest ${d.digest} in ${source.where}`;
  const manifest = parseJson(bytes, where) as OciManifest;
  if (manifest.schemaVersion !== 2 || !isDigest(manifest.config?.digest) || !Array.isArray(manifest.layers)) {
    throw new PithError('OCI_BAD_MANIFEST', `expected ${where} to have schemaVersion 2, a config descriptor and a "layers" array`);
  }
  manifest.layers.forEach((l, i) => parseDigest(l?.digest, `layers[${i}] of ${where}`));
  const configBytes = await source.blob(manifest.config);
  const config = parseJson(configBytes, `the config ${manifest.config.digest} of ${where}`) as OciConfig;
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
    throw new PithError('OCI_NOT_AN_IMAGE', `expected the config of ${where} (${manifest.config.mediaType}) to list one rootfs diff_id per layer (${manifest.layers.length}), found ${Array.isArray(diffIds) ? diffIds.length : 'none'}: is it an artifact rather than an image?`);
  }
  const layers: Layer[] = manifest.layers.map((l, i) => ({
    mediaType: l.mediaType,
    digest: l.digest,
    size: l.size,
    diffId: parseDigest(diffIds[i], `rootfs.diff_ids[${i}] of the config of ${where}`),
    bytes: () => source.blob(l),
    ...(source.stream ? { stream: () => source.stream!(l) } : {}),
  }));
  const platform: Platform = d.platform ?? {
    architecture: String(config.architecture),
    os: String(config.os),
    ...(config.variant ? { variant: config.variant } : {}),
  };
  return { manifest: { ...manifest, mediaType: d.mediaType }, manifestBytes: bytes, digest: d.digest, config, configBytes, layers, platform };
}

/** One platform of an index ("linux/arm64", "linux/arm/v7"); an image is returned as is when it matches. */
/** The platform images of an image or index (one, when `platform` picks it). */
export function platformImages(x: Image | ImageIndex, options: { platform?: string } = {}): Image[] {
  if (options.platform !== undefined) return [selectPlatform(x, options.platform)];
  return 'indexBytes' in x ? x.images : [x];
}

export function selectPlatform(x: Image | ImageIndex, platform: string): Image {
  const images = 'indexBytes' in x ? x.images : [x];
  const want = platform.split('/');
  const found = images.find((img) => {
    const have = platformString(img.platform).split('/');
    return have[0] === want[0] && have[1] === want[1] && (want[2] === undefined || have[2] === want[2]);
  });
  if (!found) {
    throw new PithError('OCI_NO_SUCH_PLATFORM', `expected an image for ${platform}, found ${images.map((i) => platformString(i.platform)).join(', ')}`);
  }
  return found;
}

// ---------------------------------------------------------------------------------------------- oci: and oci-archive:

/** The `oci:DIR[:TAG]` source. Without a tag the layout must hold exactly one image or index. */
export async function readLayout(dir: string, options: { tag?: string } = {}): Promise<Image | ImageIndex> {
  const root = resolve(dir);
  const where = `oci:${dir}`;
  await checkLayoutFile(await fs.readFile(resolve(root, 'oci-layout'), 'utf8').catch(() => undefined), where);
  const index = await readIndexJson(resolve(root, 'index.json'));
  const blobAt = (d: Descriptor) => resolve(root, 'blobs', 'sha256', digestHex(d.digest));
  const read = async (d: Descriptor) => {
    const bytes = await fs.readFile(blobAt(d)).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') throw new PithError('OCI_MISSING_BLOB', `expected the blob ${d.digest} at ${blobAt(d)} (${where}), found nothing`);
      throw e;
    });
    return checkContent(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), d, 'OCI_BLOB_MISMATCH', blobAt(d));
  };
  return readLayoutGraph(index, options.tag, { where, manifest: read, blob: read });
}

/** The `oci-archive:FILE[:TAG]` source: a tar of a layout, read member by member without unpacking it. */
export async function readOciArchive(file: string, options: { tag?: string } = {}): Promise<Image | ImageIndex> {
  const where = `oci-archive:${file}`;
  const archive = await TarFile.open(file);
  await checkLayoutFile(await archive.text('oci-layout'), where);
  const indexText = await archive.text('index.json');
  if (indexText === undefined) throw new PithError('OCI_NOT_A_LAYOUT', `expected an index.json member in ${where}, found none`);
  const index = parseIndexJson(indexText, `${where} index.json`);
  const read = async (d: Descriptor) => {
    const name = `blobs/sha256/${digestHex(d.digest)}`;
    const bytes = await archive.read(name);
    if (bytes === undefined) throw new PithError('OCI_MISSING_BLOB', `expected the blob ${d.digest} as ${name} in ${where}, found no such member`);
    return checkContent(bytes, d, 'OCI_BLOB_MISMATCH', `${where} ${name}`);
  };
  return readLayoutGraph(index, options.tag, { where, manifest: read, blob: read });
}

async function checkLayoutFile(text: string | undefined, where: string): Promise<void> {
  let version: unknown;
  try {
    version = text === undefined ? undefined : (JSON.parse(text) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch {
    version = undefined;
  }
  if (version !== (JSON.parse(OCI_LAYOUT) as { imageLayoutVersion: string }).imageLayoutVersion) {
    throw new PithError('OCI_NOT_A_LAYOUT', `expected ${where} to be an OCI image layout with an oci-layout file declaring imageLayoutVersion "1.0.0", found ${text === undefined ? 'none' : JSON.stringify(text.slice(0, 80))}`);
  }
}

async function readLayoutGraph(index: IndexJson, tag: string | undefined, source: ContentSource): Promise<Image | ImageIndex> {
  const tags = index.manifests.map((d) => d.annotations?.[REF_NAME]).filter((t): t is string => t !== undefined);
  let top: Descriptor | undefined;
  if (tag !== undefined) {
    top = index.manifests.find((d) => d.annotations?.[REF_NAME] === tag);
    if (!top) throw new PithError('OCI_NO_SUCH_TAG', `expected an image tagged "${tag}" in ${source.where}, found ${tags.length ? `the tags ${tags.join(', ')}` : 'no tags'}`);
  } else {
    // Referrers fallback indexes (artifacts about an image, such as its SBOMs) are not images of their own.
    const images = index.manifests.filter((d) => !/^sha256-[0-9a-f]{64}$/.test(d.annotations?.[REF_NAME] ?? ''));
    if (images.length !== 1) {
      throw new PithError('OCI_AMBIGUOUS_SOURCE', `expected one image in ${source.where} or a tag naming one (${source.where}:TAG), found ${images.length}${tags.length ? ` (tags: ${tags.join(', ')})` : ''}`);
    }
    top = images[0]!;
  }
  const bytes = await source.manifest(top);
  // The annotations of index.json's entry (the ref name) describe the layout, not the manifest.
  const { annotations: _a, ...descriptor } = top;
  return readGraph(descriptor, bytes, source);
}

// ------------------------------------------------------------------------------------------------- docker-archive:

interface DockerArchiveEntry {
  Config?: unknown;
  RepoTags?: unknown;
  Layers?: unknown;
}

/**
 * The `docker-archive:FILE[:NAME[:TAG]]` source (`docker save` output, old and new). The archive holds a config
 * and layer tars but no manifest, so one is made: an OCI manifest of the config as found and each layer as a gzip
 * blob — compressed here with pith's fixed settings when the archive holds it uncompressed (the tar is checked
 * against the config's diff_id either way). A copy to a registry therefore gets a new manifest digest, as it does
 * with skopeo.
 */
export async function readDockerArchive(file: string, options: { reference?: string } = {}): Promise<Image> {
  const where = `docker-archive:${file}`;
  const archive = await TarFile.open(file);
  const text = await archive.text('manifest.json');
  if (text === undefined) throw new PithError('OCI_NOT_A_DOCKER_ARCHIVE', `expected a manifest.json member in ${where}, found none`);
  const entries = parseJson(new TextEncoder().encode(text), `manifest.json in ${where}`) as DockerArchiveEntry[];
  if (!Array.isArray(entries) || entries.length === 0) throw new PithError('OCI_NOT_A_DOCKER_ARCHIVE', `expected manifest.json in ${where} to list at least one image, found none`);
  const tagsOf = (e: DockerArchiveEntry) => (Array.isArray(e.RepoTags) ? e.RepoTags.filter((t): t is string => typeof t === 'string') : []);
  let entry: DockerArchiveEntry | undefined;
  if (options.reference !== undefined) {
    const want = normaliseRepoTag(options.reference, where);
    entry = entries.find((e) => tagsOf(e).some((t) => normaliseRepoTag(t, where) === want));
    if (!entry) throw new PithError('OCI_NO_SUCH_TAG', `expected an image named ${want} in ${where}, found ${entries.flatMap(tagsOf).join(', ') || 'only untagged images'}`);
  } else if (entries.length === 1) {
    entry = entries[0]!;
  } else {
    throw new PithError('OCI_AMBIGUOUS_SOURCE', `expected one image in ${where} or a name choosing one (${where}:NAME:TAG), found ${entries.length} (${entries.flatMap(tagsOf).join(', ')})`);
  }
  if (typeof entry.Config !== 'string' || !Array.isArray(entry.Layers) || !entry.Layers.every((l) => typeof l === 'string')) {
    throw new PithError('OCI_NOT_A_DOCKER_ARCHIVE', `expected manifest.json in ${where} to name a Config file and a list of Layers files`);
  }
  const member = async (name: string) => {
    const bytes = await archive.read(name);
    if (bytes === undefined) throw new PithError('OCI_NOT_A_DOCKER_ARCHIVE', `expected the member ${name} that manifest.json names in ${where}, found none`);
    return bytes;
  };
  const configBytes = await member(entry.Config);
  const config = parseJson(configBytes, `${entry.Config} in ${where}`) as OciConfig;
  const diffIds = config.rootfs?.diff_ids;
  const layerNames = entry.Layers as string[];
  if (!Array.isArray(diffIds) || diffIds.length !== layerNames.length) {
    throw new PithError('OCI_NOT_AN_IMAGE', `expected the config ${entry.Config} in ${where} to list ${layerNames.length} rootfs diff_ids, one per layer, found ${Array.isArray(diffIds) ? diffIds.length : 'none'}`);
  }
  // Layers are independent: decompress-and-check or compress them in parallel on the thread pool.
  const layers = await Promise.all(layerNames.map(async (name, i): Promise<Layer> => {
    const diffId = parseDigest(diffIds[i], `rootfs.diff_ids[${i}] of ${entry.Config} in ${where}`);
    const bytes = await member(name);
    const gzipped = bytes[0] === 0x1f && bytes[1] === 0x8b;
    const tar = gzipped ? new Uint8Array(await gunzip(bytes)) : bytes;
    checkContent(tar, { digest: diffId, size: tar.byteLength }, 'OCI_LAYER_MISMATCH', `${where} ${name} (the config's diff_id ${i})`);
    const blob = gzipped ? bytes : await gzipLayer(tar);
    return { mediaType: MediaType.layerGzip, digest: digestOf(blob), size: blob.byteLength, diffId, bytes: async () => blob };
  }));
  const manifest: OciManifest = {
    schemaVersion: 2,
    mediaType: MediaType.manifest,
    config: describe(MediaType.config, configBytes),
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const manifestBytes = new TextEncoder().encode(canonicalJson(manifest));
  const platform: Platform = { architecture: String(config.architecture), os: String(config.os), ...(config.variant ? { variant: config.variant } : {}) };
  return { manifest, manifestBytes, digest: digestOf(manifestBytes), config, configBytes, layers, platform };
}

// --------------------------------------------------------------------------------------------------- tar members

interface Member {
  offset: number;
  size: number;
  type: string;
  linkname: string;
}

/**
 * A tar file's regular members (and symlinks between them, which `docker save` writes for repeated layers),
 * indexed by one pass over the headers; content is read from the file only when asked for.
 */
class TarFile {
  private constructor(private readonly path: string, private readonly members: Map<string, Member>) {}

  static async open(file: string): Promise<TarFile> {
    const path = resolve(file);
    const handle = await fs.open(path, 'r').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') throw new PithError('OCI_NO_SUCH_FILE', `expected an archive at ${path}, found nothing`);
      throw e;
    });
    const members = new Map<string, Member>();
    try {
      const { size: fileSize } = await handle.stat();
      const read = async (into: Buffer, at: number) => {
        await readExactly(handle, into, at);
        return into;
      };
      for await (const h of tarHeaders(fileSize, read, path)) {
        if (h.type === '0' || h.type === '\0' || h.type === '7' || h.type === '2') members.set(h.name, { offset: h.dataAt, size: h.size, type: h.type, linkname: h.linkname });
      }
    } finally {
      await handle.close();
    }
    return new TarFile(path, members);
  }

  async read(name: string): Promise<Uint8Array | undefined> {
    let m = this.members.get(name);
    for (let hops = 0; m?.type === '2' && hops < 10; hops++) {
      name = posix.normalize(posix.join(posix.dirname(name), m.linkname)).replace(/^\/+/, '');
      m = this.members.get(name);
    }
    if (m === undefined || m.type === '2') return undefined;
    const handle = await fs.open(this.path, 'r');
    try {
      const out = Buffer.alloc(m.size);
      await readExactly(handle, out, m.offset);
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    } finally {
      await handle.close();
    }
  }

  async text(name: string): Promise<string | undefined> {
    const bytes = await this.read(name);
    return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
  }
}

/** One tar member's header, with pax and GNU long-name records applied; `name` relative, normalised, no "/" ends. */
export interface TarHeaderInfo {
  name: string;
  /** The typeflag character: '0' file, '1' hardlink, '2' symlink, '5' directory, … */
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  linkname: string;
  /** Byte offset of the content. */
  dataAt: number;
}

/**
 * Walks the headers of a tar of `total` bytes, reading blocks through `read` (a file, or bytes in memory), and
 * yields each member with its pax ('x') and GNU ('L', 'K') records applied; global pax headers ('g') are skipped.
 * Every header's checksum is checked and a member running past the end is refused, both as OCI_BAD_ARCHIVE.
 */
export async function* tarHeaders(total: number, read: (into: Buffer, at: number) => Promise<Buffer> | Buffer, where: string): AsyncGenerator<TarHeaderInfo> {
  const block = Buffer.alloc(512);
  let offset = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  while (offset + 512 <= total) {
    await read(block, offset);
    if (block.every((b) => b === 0)) break;
    if (!checksumOk(block)) throw new PithError('OCI_BAD_ARCHIVE', `expected a tar header at byte ${offset} of ${where}, found bytes whose checksum does not match`);
    const str = (from: number, len: number) => block.toString('utf8', from, from + len).replace(/\0.*$/s, '');
    const type = String.fromCharCode(block[156] || 0x30);
    // A pax size (for members of 8 GiB or more) is the real one, and says where the next header is.
    const size = pax.size !== undefined && type !== 'x' ? Number(pax.size) : tarNumber(block.subarray(124, 136));
    const dataAt = offset + 512;
    if (dataAt + size > total) throw new PithError('OCI_BAD_ARCHIVE', `expected ${size} bytes of content after the header at byte ${offset} of ${where}, found the archive ends first`);
    offset = dataAt + Math.ceil(size / 512) * 512;
    if (type === 'L' || type === 'K' || type === 'x') {
      const data = await read(Buffer.alloc(size), dataAt);
      if (type === 'L') longName = data.toString('utf8').replace(/\0.*$/s, '');
      else if (type === 'K') longLink = data.toString('utf8').replace(/\0.*$/s, '');
      else pax = parsePax(data);
      continue;
    }
    if (type === 'g') continue;
    const prefix = block.toString('latin1', 257, 262) === 'ustar' ? str(345, 155) : '';
    const raw = pax.path ?? longName ?? (prefix ? `${prefix}/${str(0, 100)}` : str(0, 100));
    const linkname = pax.linkpath ?? longLink ?? str(157, 100);
    const num = (key: string, from: number, len: number) => (pax[key] !== undefined && Number.isFinite(Number(pax[key])) ? Number(pax[key]) : tarNumber(block.subarray(from, from + len)));
    const header: TarHeaderInfo = {
      name: posix.normalize(raw).replace(/^(\.\/)+|^\/+/, '').replace(/\/$/, ''),
      type,
      mode: tarNumber(block.subarray(100, 108)) & 0o7777,
      uid: num('uid', 108, 8),
      gid: num('gid', 116, 8),
      mtime: Math.floor(num('mtime', 136, 12)),
      size,
      linkname,
      dataAt,
    };
    pax = {};
    longName = longLink = undefined;
    yield header;
  }
}

/** The members of a tar held in memory, each with its content as a view of `bytes` (no copy). */
export async function readTarMembers(bytes: Uint8Array, where: string): Promise<Array<TarHeaderInfo & { data: Uint8Array }>> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Array<TarHeaderInfo & { data: Uint8Array }> = [];
  const read = (into: Buffer, at: number) => {
    buf.copy(into, 0, at, at + into.byteLength);
    return into;
  };
  for await (const h of tarHeaders(buf.byteLength, read, where)) {
    out.push({ ...h, data: bytes.subarray(h.dataAt, h.dataAt + (h.type === '0' || h.type === '\0' || h.type === '7' ? h.size : 0)) });
  }
  return out;
}

async function readExactly(handle: fs.FileHandle, into: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < into.byteLength) {
    const { bytesRead } = await handle.read(into, done, into.byteLength - done, position + done);
    if (bytesRead === 0) throw new PithError('OCI_BAD_ARCHIVE', `expected ${into.byteLength} bytes at byte ${position}, found the file ends first`);
    done += bytesRead;
  }
}

function checksumOk(block: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return tarNumber(block.subarray(148, 156)) === sum;
}

/** Octal, or GNU base-256 (high bit of the first byte set) for sizes beyond 8 GiB. */
function tarNumber(field: Buffer): number {
  if (field[0]! & 0x80) {
    let n = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const text = field.toString('latin1').replace(/[\0 ]+$/, '').trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space === -1) break;
    const len = Number(data.toString('latin1', at, space));
    if (!Number.isInteger(len) || len <= 0) break;
    const record = data.toString('utf8', space + 1, at + len - 1);
    const eq = record.indexOf('=');
    if (eq !== -1) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += len;
  }
  return out;
}

function parseJson(bytes: Uint8Array, where: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new PithError('OCI_BAD_JSON', `expected JSON in ${where}, found ${(e as Error).message}`, { cause: e });
  }
}

