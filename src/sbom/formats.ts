/**
 * The SBOM formats pith writes, by name: a module of its own so that reading `--sbom spdx,cyclonedx` does not load
 * the writers.
 */
import { PithError } from '../errors.ts';

export const SBOM_FORMAT_NAMES = ['spdx', 'cyclonedx'] as const;
export type SbomFormat = (typeof SBOM_FORMAT_NAMES)[number];

/** A comma-separated list of formats (`spdx,cyclonedx`), each once; `where` names the option or field it came from. */
export function parseSbomFormats(text: string, where: string): SbomFormat[] {
  const formats = text.split(',').map((f) => f.trim()).filter((f) => f !== '');
  const known: readonly string[] = SBOM_FORMAT_NAMES;
  for (const f of formats) {
    if (!known.includes(f)) throw new PithError('SBOM_UNKNOWN_FORMAT', `expected SBOM formats from ${SBOM_FORMAT_NAMES.join(', ')} in ${where}, found ${JSON.stringify(f)}`);
  }
  if (formats.length === 0) throw new PithError('SBOM_UNKNOWN_FORMAT', `expected at least one SBOM format (${SBOM_FORMAT_NAMES.join(', ')}) in ${where}, found none`);
  return [...new Set(formats)] as SbomFormat[];
}
