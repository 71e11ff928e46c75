/**
 * The error catalogue (src/errors.ts) is the one list of codes: tsc already rejects a literal code that is not in
 * it, so this test reads the sources' text for what types cannot see — a code reaching PithError through a cast,
 * an entry no source uses any more, and the README's copy of the table.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { ERROR_CATALOGUE, EXIT_STATUSES, type ErrorCode } from '../src/errors.ts';
import { pithCli } from './fixtures/exec.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const SRC = join(ROOT, 'src');
const CATALOGUE_FILE = join(SRC, 'errors.ts');
const CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sourceFiles(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []);
}
const sources = sourceFiles(SRC).map((file) => ({ file, where: relative(ROOT, file), text: readFileSync(file, 'utf8') }));

/**
 * The arguments of the call whose "(" is at `open`, as source text: strings, template literals (with their
 * `${…}`), comments and nested brackets are stepped over, so a comma inside them splits nothing. With `types`,
 * the "(" opens a parameter list, whose type arguments (`Pick<D, 'a' | 'b'>`) hold commas too.
 */
function callArguments(text: string, open: number, types = false): string[] {
  const args: string[] = [];
  const closers: string[] = [')'];
  let start = open + 1;
  let i = open + 1;
  const skipString = (quote: string) => {
    for (i++; i < text.length && text[i] !== quote; i++) if (text[i] === '\\') i++;
  };
  while (i < text.length && closers.length > 0) {
    const c = text[i]!;
    const top = closers.at(-1);
    if (top === '`') {
      if (c === '\\') i++;
      else if (c === '`') closers.pop();
      else if (c === '$' && text[i + 1] === '{') {
        closers.push('}');
        i++;
      }
    } else if (c === "'" || c === '"') skipString(c);
    else if (c === '/' && text[i + 1] === '/') i = text.indexOf('\n', i);
    else if (c === '/' && text[i + 1] === '*') i = text.indexOf('*/', i) + 1;
    else if (c === '`') closers.push('`');
    else if (c === '(') closers.push(')');
    else if (c === '[') closers.push(']');
    else if (types && c === '<') closers.push('>');
    else if (c === '>' && text[i - 1] === '=') {
      // an arrow, not the end of a type argument
    }
    else if (c === '{') closers.push('}');
    else if (c === top) {
      closers.pop();
      if (closers.length === 0) args.push(text.slice(start, i));
    } else if (c === ',' && closers.length === 1) {
      args.push(text.slice(start, i));
      start = i + 1;
    }
    i++;
  }
  return args.map((a) => a.trim()).filter((a, n, all) => a !== '' || n < all.length - 1);
}

/** The code literals of an expression; in `e.code === 'ENOENT' ? 'A' : 'B'` only the branches are codes. */
const quotedCodes = (expression: string) =>
  [...expression.replace(/'[^']*'\s*[!=]==?|[!=]==?\s*'[^']*'/g, '').matchAll(/'([A-Z][A-Z0-9_]*)'/g)].map((m) => m[1]!);
const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length;

interface CodeUse {
  /** file:line */
  at: string;
  /** The source text of the argument, variable or collection that holds the code. */
  expression: string;
}

/** Every place where the sources hand pith an error code: each call's code argument, and typed holders of codes. */
function codeUses(): CodeUse[] {
  const uses: CodeUse[] = [];
  const note = (where: string, text: string, index: number, expression: string | undefined) => {
    if (expression !== undefined) uses.push({ at: `${where}:${lineOf(text, index)}`, expression });
  };
  // What takes a code: PithError (and its subclasses' super()), isPithError, and every function with an ErrorCode
  // parameter (checkDigest, exitStatusOf…), by the position of that parameter.
  const takers = new Map<string, number>([['PithError', 0], ['isPithError', 1]]);
  for (const { text } of sources) {
    // A generic function's type parameters (`function f<S extends T>(`) stand between its name and its "(".
    for (const m of text.matchAll(/(?:function\s+(\w+)\s*(?:<[^(]*?>\s*)?|(?:const|let)\s+(\w+)\s*=\s*(?:async\s*)?)\(/g)) {
      const index = callArguments(text, m.index + m[0].length - 1, true).findIndex((p) => /:\s*ErrorCode\b/.test(p));
      if (index !== -1) takers.set((m[1] ?? m[2])!, index);
    }
  }
  for (const { where, text } of sources) {
    for (const [name, index] of takers) {
      for (const m of text.matchAll(new RegExp(`\\b${name}\\s*\\(`, 'g'))) {
        if (/(?:function|const|let)\s+$/.test(text.slice(Math.max(0, m.index - 20), m.index))) continue;
        note(where, text, m.index, callArguments(text, m.index + m[0].length - 1)[index]);
      }
    }
    if (/extends PithError\b/.test(text)) {
      for (const m of text.matchAll(/\bsuper\s*\(/g)) note(where, text, m.index, callArguments(text, m.index + m[0].length - 1)[0]);
    }
    // Codes kept in a typed collection or variable before they reach PithError.
    for (const m of text.matchAll(/new \w+<ErrorCode>\s*\(/g)) note(where, text, m.index, callArguments(text, m.index + m[0].length - 1)[0]);
    for (const m of text.matchAll(/:\s*ErrorCode\s*=/g)) note(where, text, m.index, text.slice(m.index + m[0].length).split(/;|\n/)[0]);
  }
  return uses;
}

describe('the error catalogue', () => {
  const uses = codeUses();
  const used = uses.flatMap((u) => quotedCodes(u.expression).map((code) => ({ code, at: u.at })));

  it('names every code the sources use', () => {
    assert.ok(used.length > 150, `the scan found only ${used.length} codes: is it still reading the calls?`);
    const unknown = used.filter((u) => !(u.code in ERROR_CATALOGUE)).map((u) => `${u.at}: ${u.code}`);
    assert.deepEqual(unknown, [], 'codes missing from ERROR_CATALOGUE in src/errors.ts');
  });

  it('is the only source of codes: no cast turns a string into one', () => {
    const casts = uses.filter((u) => /\bas\b|\bany\b/.test(u.expression)).map((u) => `${u.at}: ${u.expression}`);
    for (const { where, text } of sources) {
      for (const m of text.matchAll(/\bas ErrorCode\b(?!\[\])/g)) casts.push(`${where}:${lineOf(text, m.index)}: ${m[0]}`);
    }
    assert.deepEqual(casts, []);
  });

  it('has no dead entries: every code is used by a source other than the catalogue', () => {
    const outside = new Set(used.filter((u) => !u.at.startsWith(`${relative(ROOT, CATALOGUE_FILE)}:`)).map((u) => u.code));
    assert.deepEqual(CODES.filter((c) => !outside.has(c)), []);
  });

  it('gives every code a one-line meaning and a documented exit status an error can carry', () => {
    const documented = new Set(EXIT_STATUSES.map(([status]) => status));
    for (const code of CODES) {
      const { exit, meaning } = ERROR_CATALOGUE[code];
      assert.match(code, /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
      assert.ok(documented.has(exit), `${code}: exit ${exit}`); // and ExitStatus keeps 0 and 4 out
      assert.ok(meaning.trim().length > 10 && !meaning.includes('\n') && meaning === meaning.trim(), `${code}: meaning ${JSON.stringify(meaning)}`);
      // The README shows meanings in a Markdown table: a pipe would split the cell, a tag would vanish.
      assert.doesNotMatch(meaning, /\||<[a-z]/i, `${code}: ${meaning}`);
    }
  });
});

describe('the README', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  /** The rows of the first table after `heading`, as cells without code spans. */
  const table = (heading: string): string[][] => {
    const at = readme.indexOf(`\n${heading}\n`);
    assert.notEqual(at, -1, `README.md has no "${heading}" section`);
    const next = readme.slice(at + heading.length + 2).search(/^#/m);
    const section = readme.slice(at, next === -1 ? undefined : at + heading.length + 2 + next);
    const rows = section.split('\n').filter((l) => l.startsWith('|')).slice(2);
    return rows.map((r) => r.slice(1, -1).split('|').map((cell) => cell.trim().replaceAll('`', '')));
  };

  it('lists exactly the catalogue, with each code\'s exit status and meaning', () => {
    const rows = table('### Error codes');
    const expected = [...CODES].sort().map((c) => [c, String(ERROR_CATALOGUE[c].exit), ERROR_CATALOGUE[c].meaning]);
    assert.deepEqual(rows, expected);
  });

  it('lists the exit statuses as the catalogue module describes them', () => {
    assert.deepEqual(table('### Exit status'), EXIT_STATUSES.map(([status, meaning]) => [String(status), meaning]));
  });
});

describe('the CLI reports a code', () => {
  it('pith --help lists the exit statuses and the codes that exit other than 1', async () => {
    const help = await pithCli(['--help']);
    assert.equal(help.code, 0, help.stderr);
    const text = help.stdout.replace(/\s+/g, ' ');
    for (const [status, meaning] of EXIT_STATUSES) assert.ok(text.includes(`${status} ${meaning}`), `--help: ${status} ${meaning}`);
    for (const code of CODES.filter((c) => ERROR_CATALOGUE[c].exit !== 1)) assert.ok(text.includes(code), `--help names ${code}`);
  });

  it('a failing command prints pith: CODE: message and exits with the catalogue status; --json adds the error on stdout', async () => {
    const spec = join(tmpdir(), `pith-no-such-dir-${process.pid}`, 'pith.yaml');
    const plain = await pithCli(['build', spec]);
    assert.equal(plain.code, ERROR_CATALOGUE.SPEC_NOT_FOUND.exit);
    assert.match(plain.stderr, /^pith: SPEC_NOT_FOUND: .*pith-no-such-dir-\d+\/pith\.yaml: cannot read the spec/);
    assert.doesNotMatch(plain.stderr, /\n\s+at /, 'no stack trace for a user error');
    assert.equal(plain.stdout, '');

    const json = await pithCli(['build', '--json', spec]);
    assert.equal(json.code, ERROR_CATALOGUE.SPEC_NOT_FOUND.exit);
    assert.match(json.stderr, /^pith: SPEC_NOT_FOUND: /);
    const { error } = JSON.parse(json.stdout) as { error: { code: string; message: string; exit: number; details?: unknown } };
    assert.deepEqual(error, { code: 'SPEC_NOT_FOUND', message: plain.stderr.slice('pith: SPEC_NOT_FOUND: '.length, -1), exit: 1 });
  });

  it('a usage error exits 2, from the catalogue or from the option parser, and --json carries its code', async () => {
    const noCommand = await pithCli(['debug', '1', '--exec', '--json']);
    assert.equal(noCommand.code, ERROR_CATALOGUE.DEBUG_NO_COMMAND.exit);
    assert.equal(noCommand.code, 2);
    assert.match(noCommand.stderr, /^pith: DEBUG_NO_COMMAND: expected a command after --/);
    assert.deepEqual(JSON.parse(noCommand.stdout).error, { code: 'DEBUG_NO_COMMAND', message: 'expected a command after -- with --exec, found none', exit: 2 });

    const unknownOption = await pithCli(['build', '--frob', '--json', 'x.yaml']);
    assert.equal(unknownOption.code, ERROR_CATALOGUE.USAGE.exit);
    assert.match(unknownOption.stderr, /unknown option '--frob'/);
    assert.deepEqual(JSON.parse(unknownOption.stdout).error, { code: 'USAGE', message: "unknown option '--frob'", exit: 2 });
  });

  it('--json after -- belongs to the command pith runs, not to pith', async () => {
    const r = await pithCli(['debug', '1', '--', 'tool', '--json']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^pith: DEBUG_NO_COMMAND: expected --exec before a command/);
    assert.equal(r.stdout, '');
  });
});
