import { PithError } from '../errors.ts';
import type { RelationOp } from './version.ts';

/** One alternative of a relation field: `name[:arch] [(op version)]`. */
export interface Relation {
  name: string;
  /** The `:arch` qualifier as written (`any`, `native` or an architecture). */
  arch?: string;
  op?: RelationOp;
  version?: string;
}

// Debian Policy 5.6.1 allows [a-z0-9][a-z0-9+.-]+; upper case and `_` are accepted because dpkg itself only warns
// about them and old third-party archives use them.
const NAME = /^[A-Za-z0-9][A-Za-z0-9+._-]*$/;
const ARCH = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
// dpkg's version alphabet (epoch digits, ':', upstream, '-' revision); validated fully only when compared.
const VERSION = /^[A-Za-z0-9.+~:_-]+$/;

function syntax(where: string | undefined, field: string, what: string): PithError {
  const at = where ? `${where}: ` : '';
  return new PithError('RELATION_SYNTAX', `${at}malformed relation field "${field.trim()}": ${what}`, {
    details: { where, field },
  });
}

/**
 * Parses a relation field (`Depends`, `Pre-Depends`, `Conflicts`, `Breaks`, `Provides`, ...) into an AND of
 * OR-groups. `where` names the package and field in errors (e.g. `python3 Depends`).
 *
 * Follows apt's `debListParser::ParseDepends`: the obsolete `<` and `>` mean `<=` and `>=` (as dpkg reads them),
 * and a version without an operator means `=`. Architecture restrictions `[...]` and build profiles `<...>`
 * (which only appear in source package fields) are accepted and dropped. An empty entry between commas is
 * skipped, as apt does since 2.3.3; an empty alternative (`a | | b`) is an error.
 */
export function parseRelations(field: string, where?: string): Relation[][] {
  const out: Relation[][] = [];
  for (const entry of field.split(',')) {
    if (entry.trim() === '') continue;
    const group: Relation[] = [];
    for (const alt of entry.split('|')) {
      group.push(parseAlternative(alt, field, where));
    }
    out.push(group);
  }
  return out;
}

function parseAlternative(text: string, field: string, where: string | undefined): Relation {
  let s = text.trim();
  if (s === '') throw syntax(where, field, 'expected a package name, found an empty alternative');
  // Restrictions come last; strip them first so the remainder is `name[:arch] [(op version)]`.
  while (s.endsWith('>')) {
    const open = s.lastIndexOf('<');
    // `(>> 1)` also ends in '>'... only when it is not closed by ')'; a profile list is never inside parentheses.
    if (open === -1 || s.lastIndexOf(')') > open) break;
    const inner = s.slice(open + 1, -1).trim();
    if (inner === '' || /[<>()[\]]/.test(inner)) throw syntax(where, field, `malformed build profile list "<${inner}>"`);
    s = s.slice(0, open).trimEnd();
  }
  if (s.endsWith(']')) {
    const open = s.lastIndexOf('[');
    const inner = open === -1 ? '' : s.slice(open + 1, -1).trim();
    if (inner === '' || /[[\]()<>]/.test(inner)) throw syntax(where, field, `malformed architecture restriction in "${text.trim()}"`);
    s = s.slice(0, open).trimEnd();
  }
  let op: RelationOp | undefined;
  let version: string | undefined;
  const paren = s.indexOf('(');
  if (paren !== -1) {
    if (!s.endsWith(')')) throw syntax(where, field, `expected ")" to close the version in "${text.trim()}"`);
    const inner = s.slice(paren + 1, -1).trim();
    const m = /^(<<|<=|>=|>>|=|<|>)?\s*(.*)$/s.exec(inner)!;
    const rawOp = m[1];
    version = m[2]!.trim();
    if (version === '' || !VERSION.test(version)) {
      throw syntax(where, field, `expected a version after "${rawOp ?? '('}" in "${text.trim()}", found "${version}"`);
    }
    op = rawOp === '<' ? '<=' : rawOp === '>' ? '>=' : ((rawOp ?? '=') as RelationOp);
    s = s.slice(0, paren).trimEnd();
  }
  if (/[\s()[\]<>]/.test(s)) throw syntax(where, field, `unexpected text in "${text.trim()}"`);
  let name = s;
  let arch: string | undefined;
  const colon = s.indexOf(':');
  if (colon !== -1) {
    name = s.slice(0, colon);
    arch = s.slice(colon + 1);
    if (!ARCH.test(arch)) throw syntax(where, field, `invalid architecture qualifier "${arch}" in "${s}"`);
  }
  if (!NAME.test(name)) throw syntax(where, field, `invalid package name "${name}"`);
  const rel: Relation = { name };
  if (arch !== undefined) rel.arch = arch;
  if (op !== undefined) {
    rel.op = op;
    rel.version = version;
  }
  return rel;
}

/** The relation as Debian writes it, e.g. `libc6 (>= 2.36)` or `perl:any`. */
export function formatRelation(r: Relation): string {
  const name = r.arch ? `${r.name}:${r.arch}` : r.name;
  return r.op ? `${name} (${r.op} ${r.version})` : name;
}

export function formatGroup(group: Relation[]): string {
  return group.map(formatRelation).join(' | ');
}
