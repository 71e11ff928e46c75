/**
 * Output destinations, named as skopeo names them. Every transport writes from the same `Image`/`ImageIndex`
 * model, so adding one (a registry, a daemon) means adding a module here, not touching the build.
 */
import { PithError } from '../errors.ts';
import type { Image, ImageIndex } from './image.ts';
import { checkTag, writeLayout } from './layout.ts';
import { writeOciArchive } from './archive.ts';
import { normaliseRepoTag, writeDockerArchive } from './docker-archive.ts';

export type Destination =
  | { transport: 'oci'; path: string; tag?: string }
  | { transport: 'oci-archive'; path: string; tag?: string }
  | { transport: 'docker-archive'; path: string; reference?: string };

export const TRANSPORTS = ['oci', 'oci-archive', 'docker-archive'] as const;

const FORMS = 'oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME[:TAG]]';

/**
 * Splits at the first ":" after the transport, as containers/image does: the path cannot contain ":", and
 * everything after it is the tag (OCI ref names may themselves contain ":") or the docker reference.
 */
export function parseDestination(text: string): Destination {
  const colon = text.indexOf(':');
  const transport = colon === -1 ? '' : text.slice(0, colon);
  if (!(TRANSPORTS as readonly string[]).includes(transport)) {
    const hint = transport === 'docker' ? ' (pushing to a registry is not an output yet)' : colon === -1 ? ' (no transport prefix)' : '';
    throw new PithError('OCI_UNKNOWN_TRANSPORT', `expected an output destination ${FORMS}, found ${JSON.stringify(text)}${hint}`);
  }
  const rest = text.slice(colon + 1);
  const sep = rest.indexOf(':');
  const path = sep === -1 ? rest : rest.slice(0, sep);
  const ref = sep === -1 ? undefined : rest.slice(sep + 1);
  if (path === '') throw new PithError('OCI_BAD_DESTINATION', `expected a path after "${transport}:" in ${JSON.stringify(text)}, found none`);
  if (ref === '') throw new PithError('OCI_BAD_DESTINATION', `expected a ${transport === 'docker-archive' ? 'name' : 'tag'} after the last ":" in ${JSON.stringify(text)}, found none`);
  switch (transport) {
    case 'oci':
    case 'oci-archive':
      if (ref !== undefined) checkTag(ref, text);
      return { transport, path, ...(ref === undefined ? {} : { tag: ref }) };
    default:
      if (ref !== undefined) normaliseRepoTag(ref, text);
      return { transport: 'docker-archive', path, ...(ref === undefined ? {} : { reference: ref }) };
  }
}

export function formatDestination(d: Destination): string {
  const ref = d.transport === 'docker-archive' ? d.reference : d.tag;
  return `${d.transport}:${d.path}${ref === undefined ? '' : `:${ref}`}`;
}

export async function writeImage(destination: Destination | string, x: Image | ImageIndex): Promise<void> {
  const d = typeof destination === 'string' ? parseDestination(destination) : destination;
  switch (d.transport) {
    case 'oci':
      await writeLayout(d.path, x, { tag: d.tag });
      return;
    case 'oci-archive':
      await writeOciArchive(d.path, x, { tag: d.tag });
      return;
    case 'docker-archive':
      await writeDockerArchive(d.path, x, { reference: d.reference });
      return;
  }
}
