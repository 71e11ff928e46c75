import { PithError } from '../errors.ts';

/** One paragraph of a deb822 file. Field names are lower-cased (deb822 names are case-insensitive). */
export interface Deb822Stanza {
  fields: Record<string, string>;
  /** 1-based line of the paragraph's first field, for error messages. */
  line: number;
}

export interface Deb822Options {
  /** Shown in errors as `file:line`. */
  source?: string;
  /**
   * Lower-case names of the only fields to return; the others are skipped without being read (and so without the
   * duplicate check). Parsing a Packages index for the few fields pith uses is twice as fast.
   */
  only?: ReadonlySet<string>;
}

/** The key of a field `only` leaves out; never a real key, as a field line must not start with its colon. */
const SKIPPED = '';

/**
 * Parses deb822 text (Packages, Release, .sources, control files): paragraphs separated by blank lines,
 * `Field: value` lines, continuation lines starting with a space or tab, `#` comment lines.
 * Continuation lines keep their content without the one leading whitespace character, joined with `\n`.
 * Written as a single indexOf-driven pass because the bookworm main index is ~64k paragraphs.
 */
export function parseDeb822(text: string, options: Deb822Options = {}): Deb822Stanza[] {
  const stanzas: Deb822Stanza[] = [];
  let fields: Record<string, string> | null = null;
  let startLine = 0;
  let lastKey = '';
  let lineNo = 0;
  let pos = 0;
  const len = text.length;
  // Field names repeat in every paragraph: each spelling is lower-cased (and checked against `only`) once.
  const keys = new Map<string, string>();
  if (text.charCodeAt(0) === 0xfeff) pos = 1;
  while (pos < len) {
    let end = text.indexOf('\n', pos);
    if (end === -1) end = len;
    lineNo++;
    let lineEnd = end;
    if (lineEnd > pos && text.charCodeAt(lineEnd - 1) === 13) lineEnd--; // CRLF
    const c = text.charCodeAt(pos);
    if (lineEnd === pos) {
      if (fields !== null) {
        stanzas.push({ fields, line: startLine });
        fields = null;
      }
    } else if (c === 35 /* # */) {
      // comment line: ignored
    } else if (c === 32 || c === 9) {
      // continuation, or a whitespace-only line (which ends a paragraph, as dpkg and apt treat it)
      const content = text.slice(pos + 1, lineEnd);
      if (content.trim() === '') {
        if (fields !== null) {
          stanzas.push({ fields, line: startLine });
          fields = null;
        }
      } else {
        if (fields === null) {
          throw new PithError(
            'DEB822_SYNTAX',
            `${where(options, lineNo)}: expected a "Field: value" line, found a continuation line outside a field: ${JSON.stringify(text.slice(pos, lineEnd))}`,
          );
        }
        if (lastKey !== SKIPPED) fields[lastKey] += '\n' + content;
      }
    } else {
      const colon = text.indexOf(':', pos);
      if (colon === -1 || colon >= lineEnd || colon === pos) {
        throw new PithError(
          'DEB822_SYNTAX',
          `${where(options, lineNo)}: expected a "Field: value" line, found ${JSON.stringify(text.slice(pos, lineEnd))}`,
        );
      }
      const name = text.slice(pos, colon);
      let key = keys.get(name);
      if (key === undefined) {
        key = name.toLowerCase();
        if (options.only !== undefined && !options.only.has(key)) key = SKIPPED;
        keys.set(name, key);
      }
      if (fields === null) {
        fields = Object.create(null) as Record<string, string>;
        startLine = lineNo;
      }
      lastKey = key;
      if (key === SKIPPED) {
        pos = end + 1;
        continue;
      }
      let vs = colon + 1;
      while (vs < lineEnd && (text.charCodeAt(vs) === 32 || text.charCodeAt(vs) === 9)) vs++;
      let ve = lineEnd;
      while (ve > vs && (text.charCodeAt(ve - 1) === 32 || text.charCodeAt(ve - 1) === 9)) ve--;
      if (key in fields) {
        throw new PithError(
          'DEB822_SYNTAX',
          `${where(options, lineNo)}: field "${text.slice(pos, colon)}" appears twice in one paragraph`,
        );
      }
      fields[key] = text.slice(vs, ve);
    }
    pos = end + 1;
  }
  if (fields !== null) stanzas.push({ fields, line: startLine });
  return stanzas;
}

function where(options: Deb822Options, line: number): string {
  return `${options.source ?? '<deb822>'}:${line}`;
}
