/**
 * A package's declared licence, from its machine-readable `copyright` file (DEP-5, Debian's copyright-format 1.0):
 * the header paragraph names the format; each `Files:` paragraph has a `License:` whose first line is a licence
 * expression of short names joined by "or", "and" and ", and"/", or" (the comma binding loosest, "and" tighter than
 * "or"), each name optionally "with X exception"; standalone `License:` paragraphs give the texts.
 *
 * The result is an SPDX licence expression: Debian's short names mapped to SPDX identifiers (GPL-2+ →
 * GPL-2.0-or-later, Expat → MIT, …), names SPDX does not list kept as `LicenseRef-…` with their text, the licences
 * of all paragraphs joined with AND. A file that is not DEP-5, does not parse, or yields no valid expression gives
 * NOASSERTION: never a guess, never a crash.
 */
import { createRequire } from 'node:module';
import { SPDX } from '@cyclonedx/cyclonedx-library';
import { parseDeb822 } from '../debian/deb822.ts';

const require = createRequire(import.meta.url);
const parseSpdx = require('spdx-expression-parse') as (expression: string) => unknown;

export const NOASSERTION = 'NOASSERTION';

export interface ExtractedLicense {
  /** `LicenseRef-…` */
  id: string;
  /** The short name as the copyright file writes it. */
  name: string;
  /** The licence text from the file, or a note that it has none. */
  text: string;
}

export interface DeclaredLicense {
  /** An SPDX licence expression, or NOASSERTION. */
  expression: string;
  /** The LicenseRef-… identifiers the expression uses, with their texts. */
  extracted: ExtractedLicense[];
  /** Why NOASSERTION, when it is. */
  reason?: string;
}

/** Debian short names whose SPDX identifier is not just the same name in another case. */
const DEBIAN_TO_SPDX: Record<string, string> = {
  'expat': 'MIT',
  'bsd-2-clause': 'BSD-2-Clause',
  'bsd-3-clause': 'BSD-3-Clause',
  'bsd-4-clause': 'BSD-4-Clause',
  'artistic': 'Artistic-1.0',
  'perl': '(Artistic-1.0-Perl OR GPL-1.0-or-later)',
  'psf-2': 'PSF-2.0',
  'zope-2.1': 'ZPL-2.1',
  'mpl-1.1': 'MPL-1.1',
  'mpl-2.0': 'MPL-2.0',
  'cc0': 'CC0-1.0',
  'cc0-1.0': 'CC0-1.0',
  'apache-2': 'Apache-2.0',
  'apache-2.0': 'Apache-2.0',
  'zlib': 'Zlib',
  'isc': 'ISC',
  'x11': 'X11',
};

/** GNU licences: Debian writes GPL-2, GPL-2+, LGPL-2.1+, GFDL-NIV-1.3+; SPDX -only / -or-later forms. */
const GNU = /^(a?gpl|lgpl|gfdl|gfdl-niv)(?:-(\d(?:\.\d)?))?(\+)?$/i;

function spdxIdFor(name: string): string | undefined {
  const lower = name.toLowerCase();
  if (DEBIAN_TO_SPDX[lower]) return DEBIAN_TO_SPDX[lower];
  const gnu = GNU.exec(name);
  if (gnu) {
    const family = gnu[1]!.toLowerCase();
    const version = gnu[2] ?? '1';
    const v = version.includes('.') ? version : `${version}.0`;
    // LGPL-2 is the Library GPL 2.0; GFDL-NIV is the GFDL without invariant sections.
    const base = family === 'gfdl-niv' ? `GFDL-${version.includes('.') ? version : `${version}.1`}-no-invariants` : family === 'gfdl' ? `GFDL-${version.includes('.') ? version : `${version}.1`}` : `${family.toUpperCase()}-${v}`;
    const id = `${base}-${gnu[3] || gnu[2] === undefined ? 'or-later' : 'only'}`;
    return SPDX.isSupportedSpdxId(id) ? id : undefined;
  }
  const fixed = SPDX.fixupSpdxId(name);
  return fixed !== undefined && SPDX.isSupportedSpdxId(fixed) ? fixed : undefined;
}

function licenseRef(name: string): string {
  return `LicenseRef-${name.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '') || 'unnamed'}`;
}

/** One DEP-5 licence expression (the first line of a License field) as SPDX; refs collected in `refs`. */
export function dep5ToSpdx(expression: string, refs: Map<string, string>): string {
  const text = expression.trim().replace(/\s+/g, ' ');
  if (text === '') throw new Error('empty licence expression');
  // ", and" / ", or" bind loosest; within a comma part "and" binds tighter than "or".
  const parts = text.split(/,\s*/);
  const wrap = (x: string) => (/ (OR|AND) /.test(x) ? `(${x})` : x);
  let out = '';
  for (const [i, raw] of parts.entries()) {
    let part = raw;
    let op = '';
    if (i > 0) {
      const m = /^(and|or)\s+(.*)$/i.exec(part);
      if (!m) throw new Error(`expected ", and" or ", or" before ${JSON.stringify(part)}`);
      op = m[1]!.toUpperCase();
      part = m[2]!;
    }
    const ors = part.split(/\s+or\s+/i).map((alt) => alt.split(/\s+and\s+/i).map((atom) => atomToSpdx(atom, refs)));
    const group = ors.map((ands) => (ands.length > 1 && ors.length > 1 ? `(${ands.join(' AND ')})` : ands.join(' AND '))).join(' OR ');
    out = i === 0 ? group : `${wrap(out)} ${op} ${wrap(group)}`;
  }
  return out;
}

function atomToSpdx(atom: string, refs: Map<string, string>): string {
  const a = atom.trim();
  if (a === '' || /\s/.test(a.replace(/\s+with\s+.*\s+exception$/i, ''))) throw new Error(`expected a licence short name, found ${JSON.stringify(a)}`);
  const withException = /^(\S+)\s+with\s+(.+)\s+exception$/i.exec(a);
  if (withException) {
    // SPDX has its own exception identifiers; a Debian "with X exception" is kept whole rather than guessed.
    const ref = licenseRef(a);
    refs.set(ref, a);
    return ref;
  }
  const id = spdxIdFor(a);
  if (id !== undefined) return id;
  const ref = licenseRef(a);
  refs.set(ref, a);
  return ref;
}

/** The declared licence of a package from its copyright file's text (undefined: no copyright file). */
export function declaredLicense(text: string | undefined): DeclaredLicense {
  const none = (reason: string): DeclaredLicense => ({ expression: NOASSERTION, extracted: [], reason });
  if (text === undefined) return none('no copyright file');
  if (!/^\s*Format(-Specification)?:/i.test(text)) return none('not machine-readable (no DEP-5 Format header)');
  let stanzas;
  try {
    stanzas = parseDeb822(text);
  } catch (e) {
    return none(`not deb822: ${(e as Error).message}`);
  }
  const header = stanzas[0]?.fields;
  if (!header || !/copyright-format|dep5/i.test(header['format'] ?? header['format-specification'] ?? '')) return none('not machine-readable (no DEP-5 Format header)');
  const texts = new Map<string, string>();
  for (const s of stanzas.slice(1)) {
    const lic = s.fields['license'];
    if (lic !== undefined && s.fields['files'] === undefined) {
      const [name, ...body] = lic.split('\n');
      if (name!.trim() !== '' && body.join('\n').trim() !== '') texts.set(name!.trim().toLowerCase(), body.join('\n'));
    }
  }
  const refs = new Map<string, string>();
  const expressions: string[] = [];
  try {
    for (const s of stanzas) {
      if (s !== stanzas[0] && s.fields['files'] === undefined) continue;
      const lic = s.fields['license'];
      if (lic === undefined) continue;
      const [first, ...body] = lic.split('\n');
      const e = dep5ToSpdx(first!, refs);
      if (!expressions.includes(e)) expressions.push(e);
      for (const name of refs.values()) if (!texts.has(name.toLowerCase()) && body.join('\n').trim() !== '' && first!.trim() === name) texts.set(name.toLowerCase(), body.join('\n'));
    }
  } catch (e) {
    return none(`unparsable License field: ${(e as Error).message}`);
  }
  if (expressions.length === 0) return none('no License field');
  const expression = expressions.length === 1 ? expressions[0]! : expressions.map((e) => (/ (OR|AND) /.test(e) ? `(${e})` : e)).join(' AND ');
  try {
    parseSpdx(expression);
  } catch (e) {
    return none(`not a valid SPDX expression (${expression}): ${(e as Error).message}`);
  }
  const extracted = [...refs].map(([id, name]) => ({
    id,
    name,
    text: texts.get(name.toLowerCase())?.split('\n').map((l) => (l.trim() === '.' ? '' : l)).join('\n').trim() || `License "${name}", as named in the package's copyright file, which gives no text for it.`,
  }));
  return { expression, extracted };
}
