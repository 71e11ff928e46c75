/**
 * Image locations, named as skopeo names them — outputs of a build, and sources and destinations of a copy. Every
 * transport reads into and writes from the same `Image`/`ImageIndex` model, so any source copies to any
 * destination through one code path. The transports themselves live below this stage (oci/ for layouts and
 * archives, registry/ for `docker://`); this module only names them and dispatches through one table, so adding a
 * transport means one module and one row here, never touching the build or the image model.
 */
import { stat } from 'node:fs/promises';
import { isPithError, PithError } from '../errors.ts';
import { TarFile } from '../fs/tar.ts';
import type { Image, ImageIndex } from '../oci/image.ts';
import { checkTag, writeLayout } from '../oci/layout.ts';
import { writeOciArchive } from '../oci/archive.ts';
import { normaliseRepoTag, writeDockerArchive } from '../oci/docker-archive.ts';
import { readDockerArchive, readLayout, readOciArchive, selectPlatform } from '../oci/read.ts';
import { formatReference, parseReference } from '../oci/reference.ts';
import type { RegistryOptions } from '../registry/client.ts';
import { readRemote } from '../registry/pull.ts';
import { pushImage, type PushSummary } from '../registry/push.ts';

export type Destination =
  | { transport: 'oci'; path: string; tag?: string }
  | { transport: 'oci-archive'; path: string; tag?: string }
  | { transport: 'docker-archive'; path: string; reference?: string }
  /** `implicit`: named without `docker://` and found to be no path here, so a failed read says why it went to a registry. */
  | { transport: 'docker'; reference: string; implicit?: true };

export const TRANSPORTS = ['oci', 'oci-archive', 'docker-archive', 'docker'] as const satisfies ReadonlyArray<Destination['transport']>;

const FORMS = 'oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME[:TAG]] or docker://REFERENCE';

/**
 * Splits at the first ":" after the transport, as containers/image does: the path cannot contain ":", and
 * everything after it is the tag (OCI ref names may themselves contain ":") or the docker reference. A registry
 * is `docker://` and a reference as docker writes it (registry/repository:tag or @digest).
 */
export function parseDestination(text: string): Destination {
  const colon = text.indexOf(':');
  const transport = colon === -1 ? '' : text.slice(0, colon);
  if (!(TRANSPORTS as readonly string[]).includes(transport)) {
    throw new PithError('OCI_UNKNOWN_TRANSPORT', `expected an image location ${FORMS}, found ${JSON.stringify(text)}${colon === -1 ? ' (no transport prefix)' : ''}`);
  }
  if (transport === 'docker') {
    if (!text.startsWith('docker://')) throw new PithError('OCI_BAD_DESTINATION', `expected "docker://" and a reference, found ${JSON.stringify(text)}`);
    const reference = text.slice('docker://'.length);
    parseReference(reference, text);
    return { transport, reference };
  }
  const rest = text.slice(colon + 1);
  const sep = rest.indexOf(':');
  return localLocation(transport as LocalTransport, sep === -1 ? rest : rest.slice(0, sep), sep === -1 ? undefined : rest.slice(sep + 1), text);
}

type LocalTransport = Exclude<Destination['transport'], 'docker'>;

/** A local location from its path and what followed the path's ":" (a tag; a docker archive's NAME[:TAG]), checked. */
function localLocation(transport: LocalTransport, path: string, ref: string | undefined, text: string): Destination {
  if (path === '') throw new PithError('OCI_BAD_DESTINATION', `expected a path after "${transport}:" in ${JSON.stringify(text)}, found none`);
  if (ref === '') throw new PithError('OCI_BAD_DESTINATION', `expected a ${transport === 'docker-archive' ? 'name' : 'tag'} after the last ":" in ${JSON.stringify(text)}, found none`);
  if (transport === 'docker-archive') {
    if (ref !== undefined) normaliseRepoTag(ref, text);
    return { transport, path, ...(ref === undefined ? {} : { reference: ref }) };
  }
  if (ref !== undefined) checkTag(ref, text);
  return { transport, path, ...(ref === undefined ? {} : { tag: ref }) };
}

/** skopeo's transports that pith does not read: named so, they are not mistaken for a registry `host:port`. */
const OTHER_TRANSPORTS = ['containers-storage', 'dir', 'docker-daemon', 'ostree', 'sif', 'tarball'];

/**
 * An image to read, named as skopeo users expect to name it: a location with its transport (`oci:DIR[:TAG]`, …), or
 * — without one — a path that exists (a directory is an OCI layout, `DIR:TAG` one of its tags; a file is an OCI or
 * docker archive, told apart by what it holds, and `FILE:TAG` / `FILE:NAME:TAG` names one of its images), or else a
 * registry reference (`registry:5000/team/app:1`,
 * `app@sha256:…`, `library/debian`). An existing path wins over a reference of the same spelling, and a name
 * starting with `/`, `./` or `../` is always a path.
 */
export async function locateImage(text: string): Promise<Destination> {
  const colon = text.indexOf(':');
  if (colon !== -1 && (TRANSPORTS as readonly string[]).includes(text.slice(0, colon))) return parseDestination(text);
  const pathLike = /^(\/|\.\.?\/)/.test(text) || text === '.' || text === '..';
  // PATH, else PATH:REF split at each ":" in turn: as after oci:, the path of a PATH:REF holds no ":".
  const splits = [text.length, ...[...text.matchAll(/:/g)].map((m) => m.index)].filter((at) => at > 0);
  for (const at of splits) {
    const path = text.slice(0, at);
    const ref = at === text.length ? undefined : text.slice(at + 1);
    const st = await stat(path).catch(() => undefined);
    if (st === undefined) continue;
    if (st.isDirectory()) return localLocation('oci', path, ref, text);
    const archive = await TarFile.open(path).catch(() => undefined);
    if (archive?.has('oci-layout')) return localLocation('oci-archive', path, ref, text);
    if (archive?.has('manifest.json')) return localLocation('docker-archive', path, ref, text);
    throw new PithError('OCI_BAD_DESTINATION', `${path}: expected an OCI layout directory, or an OCI or docker archive (a tar holding oci-layout or manifest.json), found a file that is neither`);
  }
  if (pathLike) throw new PithError('OCI_BAD_DESTINATION', `${text}: expected an OCI layout directory or an image archive at this path, found nothing there`);
  const other = OTHER_TRANSPORTS.find((t) => text.startsWith(`${t}:`));
  if (other !== undefined) throw new PithError('OCI_UNKNOWN_TRANSPORT', `expected an image: a path that exists, a registry reference, or ${FORMS}; found ${JSON.stringify(text)}, skopeo's ${other}: transport, which pith does not read (no such path is here either)`);
  try {
    parseReference(text, text);
  } catch (e) {
    throw new PithError('OCI_UNKNOWN_TRANSPORT', `expected an image: a path that exists (an OCI layout or archive), a registry reference, or ${FORMS}; found ${JSON.stringify(text)}, which is no file or directory here and no reference (${(e as Error).message.replace(/^.*: /, '')})`);
  }
  return { transport: 'docker', reference: text, implicit: true };
}

/**
 * A registry reference as users write it, with or without `docker://`, without it (`where` says whose: `pith push`'s
 * destination, `--push`, `--image`). A local location here is refused by name: writing to one is a copy.
 */
export function registryReference(text: string, where = 'a registry reference'): string {
  if (text.startsWith('docker://')) return text.slice('docker://'.length);
  const other = [...TRANSPORTS, ...OTHER_TRANSPORTS].find((t) => t !== 'docker' && text.startsWith(`${t}:`));
  if (other !== undefined) throw new PithError('OCI_BAD_REFERENCE', `expected a registry reference (registry/repository[:tag|@digest], with or without docker://) in ${where}, found the ${other}: location ${JSON.stringify(text)} (pith copy reads and writes any location)`);
  return text;
}

/** A registry reference as users write it (see `registryReference`) as the location `docker://REFERENCE`. */
export function registryLocation(text: string, where?: string): string {
  return `docker://${registryReference(text, where)}`;
}

export function formatDestination(d: Destination): string {
  if (d.transport === 'docker') return `docker://${d.reference}`;
  const ref = d.transport === 'docker-archive' ? d.reference : d.tag;
  return `${d.transport}:${d.path}${ref === undefined ? '' : `:${ref}`}`;
}

/** What each transport does with the one image model: read a location into it, write it to a location. */
interface Transport<D extends Destination> {
  read(d: D, options: RegistryOptions): Promise<Image | ImageIndex>;
  write(d: D, x: Image | ImageIndex, options: RegistryOptions): Promise<WriteResult>;
}

const TRANSPORT_TABLE: { [T in Destination['transport']]: Transport<Extract<Destination, { transport: T }>> } = {
  docker: {
    read: (d, options) =>
      readRemote(d.reference, options).catch((e: unknown) => {
        if (!d.implicit || !isPithError(e)) throw e;
        throw new PithError(e.code, `${e.message} (${JSON.stringify(d.reference)} names no file or directory here, so it was read as the registry reference docker://${formatReference(parseReference(d.reference))})`, { cause: e, details: e.details });
      }),
    write: async (d, x, options) => ({ push: await pushImage(d.reference, x, options) }),
  },
  oci: {
    read: (d) => readLayout(d.path, { tag: d.tag }),
    write: async (d, x, options) => (await writeLayout(d.path, x, { tag: d.tag, jobs: options.jobs }), {}),
  },
  'oci-archive': {
    read: (d) => readOciArchive(d.path, { tag: d.tag }),
    write: async (d, x) => (await writeOciArchive(d.path, x, { tag: d.tag }), {}),
  },
  'docker-archive': {
    read: (d) => readDockerArchive(d.path, { reference: d.reference }),
    write: async (d, x) => (await writeDockerArchive(d.path, x, { reference: d.reference }), {}),
  },
};

function transportOf<D extends Destination>(d: D): Transport<D> {
  return TRANSPORT_TABLE[d.transport] as unknown as Transport<D>;
}

/** Reads the image or index at a location (found as `locateImage` finds it). */
export async function readImage(source: Destination | string, options: RegistryOptions = {}): Promise<Image | ImageIndex> {
  const s = typeof source === 'string' ? await locateImage(source) : source;
  return transportOf(s).read(s, options);
}

/** Reading an image for a look at its platforms: which platform of an index, and how to reach a registry. */
export interface PlatformOptions {
  /** Only this platform of an index, e.g. "linux/arm64". */
  platform?: string;
  /** For `docker://` images: insecure registries, credentials. */
  registry?: RegistryOptions;
}

export interface CopyOptions {
  /** Copy only this platform of an index, e.g. "linux/arm64". */
  platform?: string;
  /** For `docker://` sources and destinations. */
  registry?: RegistryOptions;
}

export interface CopyResult {
  source: string;
  destination: string;
  /** Of what was written: the index's, or the image's when one platform was chosen. */
  digest: string;
  /** What a `docker://` destination was sent. */
  push?: PushSummary;
}

/** Copies an image or index from any transport to any other. */
export async function copyImage(source: Destination | string, destination: Destination | string, options: CopyOptions = {}): Promise<CopyResult> {
  const s = typeof source === 'string' ? await locateImage(source) : source;
  const d = typeof destination === 'string' ? parseDestination(destination) : destination;
  const read = await readImage(s, options.registry);
  const x = options.platform === undefined ? read : selectPlatform(read, options.platform);
  const { push } = await writeImage(d, x, options.registry);
  return { source: formatDestination(s), destination: formatDestination(d), digest: x.digest, ...(push ? { push } : {}) };
}

export interface WriteResult {
  /** For a `docker://` destination: what was uploaded, skipped and mounted. */
  push?: PushSummary;
}

export async function writeImage(destination: Destination | string, x: Image | ImageIndex, options: RegistryOptions = {}): Promise<WriteResult> {
  const d = typeof destination === 'string' ? parseDestination(destination) : destination;
  return transportOf(d).write(d, x, options);
}
