import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ShellError, type Node } from '../../src/maintscript/ast.ts';
import { Lexer, type Token } from '../../src/maintscript/lexer.ts';

/** Tokens of `text`; command substitution bodies are handed to `nested` (the parser's place) and read as empty. */
function lex(text: string, nested: Token[][] = []): Token[] {
  return new Lexer(text, (tokens) => {
    nested.push(tokens);
    return { t: 'list', items: [] } satisfies Node;
  }).tokens().tokens;
}
/** Each token as written (a word by its source text), with the line it starts on. */
const written = (tokens: Token[]) => tokens.map((t) => [t.t === 'word' ? t.word.text : t.t === 'op' ? t.op : t.t, t.line]);

describe('Lexer', () => {
  it('splits at blanks and operators, and tells a redirection\'s file descriptor from a word', () => {
    assert.deepEqual(written(lex('a=1 b|c&&d; e >out 2>&1 3<in\nf')), [
      ['a=1', 1], ['b', 1], ['|', 1], ['c', 1], ['&&', 1], ['d', 1], [';', 1], ['e', 1], ['>', 1], ['out', 1],
      ['>&', 1], ['1', 1], ['<', 1], ['in', 1], ['nl', 1], ['f', 2], ['eof', 2],
    ]);
    const fds = lex('e 2>&1 3<in').flatMap((t) => (t.t === 'op' ? [[t.op, t.fd]] : []));
    assert.deepEqual(fds, [['>&', 2], ['<', 3]]);
  });

  it('keeps which parts of a word were quoted, joins continued lines, and drops comments', () => {
    const tokens = lex(`echo "a $x" 'b c' d\\ e\\
f # a comment
g`);
    const words = tokens.flatMap((t) => (t.t === 'word' ? [t.word.parts] : []));
    assert.deepEqual(words, [
      [{ k: 'lit', v: 'echo', q: false }],
      [{ k: 'lit', v: 'a ', q: true }, { k: 'param', name: 'x', q: true }],
      [{ k: 'lit', v: 'b c', q: true }],
      [{ k: 'lit', v: 'd', q: false }, { k: 'lit', v: ' ', q: true }, { k: 'lit', v: 'ef', q: false }],
      [{ k: 'lit', v: 'g', q: false }],
    ]);
    assert.equal(tokens.find((t) => t.t === 'word' && t.word.text === 'g')!.line, 3);
  });

  it('reads ${…} forms and special parameters as parameters, a lone $ as itself', () => {
    const [word] = lex('${x:-$1}${#y}${z%%.*}$#$@$').flatMap((t) => (t.t === 'word' ? [t.word.parts] : []));
    assert.deepEqual(word, [
      { k: 'param', name: 'x', op: ':-', arg: [{ k: 'param', name: '1', q: false }], q: false },
      { k: 'param', name: 'y', op: 'length', q: false },
      { k: 'param', name: 'z', op: '%%', arg: [{ k: 'lit', v: '.*', q: false }], q: false },
      { k: 'param', name: '#', q: false },
      { k: 'param', name: '@', q: false },
      { k: 'lit', v: '$', q: false },
    ]);
  });

  it('skips here-document bodies, <<- ones with their leading tabs, and counts their lines', () => {
    assert.deepEqual(written(lex('cat <<EOF >x\nnot a command; (\nEOF\ncat <<-END\n\tstill data\n\tEND\nnext\n')), [
      ['cat', 1], ['<<', 1], ['EOF', 1], ['>', 1], ['x', 1], ['nl', 1],
      ['cat', 4], ['<<-', 4], ['END', 4], ['nl', 4],
      ['next', 7], ['nl', 7], ['eof', 8],
    ]);
  });

  it('reads $(…) to the ) that closes it, past a case pattern\'s ), and hands its tokens to the parser', () => {
    const nested: Token[][] = [];
    const tokens = lex('x=$(case $1 in a) echo b;; esac) `echo \\`y\\``', nested);
    const parts = tokens.flatMap((t) => (t.t === 'word' ? [t.word.parts.map((p) => (p.k === 'cmd' ? `cmd ${p.text}` : p.k))] : []));
    assert.deepEqual(parts, [['lit', 'cmd $(case $1 in a) echo b;; esac)'], ['cmd `echo \\`y\\``']]);
    assert.deepEqual(nested.map(written), [
      [['case', 1], ['$1', 1], ['in', 1], ['a', 1], [')', 1], ['echo', 1], ['b', 1], [';;', 1], ['esac', 1], ['eof', 1]],
      [['y', 1], ['eof', 1]],
      [['echo', 1], ['`y`', 1], ['eof', 1]],
    ]);
  });

  it('names the line of what it cannot read', () => {
    assert.throws(() => lex('#!/bin/sh\nif true; then\n  echo "unterminated\n'), (e) => e instanceof ShellError && /^line 3: expected a closing double quote/.test(e.message));
    assert.throws(() => lex("a\nb 'open\n\n"), (e) => e instanceof ShellError && /^line 2: expected a closing single quote/.test(e.message));
    assert.throws(() => lex('a\nx=$(echo\n'), (e) => e instanceof ShellError && /^line 3: expected "\)" to close "\$\("/.test(e.message));
    assert.throws(() => lex('echo ${'), (e) => e instanceof ShellError && /^line 1: expected a parameter name after "\$\{"/.test(e.message));
  });
});
