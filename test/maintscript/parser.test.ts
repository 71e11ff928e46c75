import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ShellError, type Node } from '../../src/maintscript/ast.ts';
import { parse } from '../../src/maintscript/parser.ts';

/** The tree in brief: each command by its text, each compound by its keyword and parts, lists as arrays. */
function outline(node: Node): unknown {
  switch (node.t) {
    case 'list':
      return node.items.map(outline);
    case 'simple':
      return node.text;
    case 'andor':
      return [outline(node.first), ...node.rest.flatMap((r) => [r.op, outline(r.node)])];
    case 'pipe':
      return { pipe: node.cmds.map(outline), bang: node.bang };
    case 'if':
      return { if: node.clauses.map((c) => [outline(c.cond), outline(c.body)]), else: node.otherwise && outline(node.otherwise) };
    case 'for':
      return { for: node.name, in: node.words?.map((w) => w.text) ?? null, do: outline(node.body) };
    case 'case':
      return { case: node.word.text, items: node.items.map((i) => [i.patterns.map((p) => p.text), outline(i.body)]) };
    case 'loop':
      return { [node.until ? 'until' : 'while']: outline(node.cond), do: outline(node.body) };
    case 'group':
      return { [node.subshell ? 'subshell' : 'group']: outline(node.body) };
    case 'func':
      return { func: node.name, body: outline(node.body) };
    case 'redirected':
      return { redirected: outline(node.node), to: node.redirs.map((r) => `${r.op}${r.target.text}`) };
  }
}

describe('parse', () => {
  it('nests the compound commands of a postinst as the grammar does', () => {
    const tree = parse(`set -e
case "$1" in
  configure|reconfigure)
    if [ -z "$2" ]; then a; elif b; then :; else c; fi
    for i in x "$y"; do d "$i"; done
    ;;
  (abort-*) exit 0 ;;
esac
setup() { while read l; do e; done < /etc/f; }
until f; do ( g ); done
`);
    assert.deepEqual(outline(tree), [
      'set -e',
      { case: '"$1"', items: [
        [['configure', 'reconfigure'], [
          { if: [[['[ -z "$2" ]'], ['a']], [['b'], [':']]], else: ['c'] },
          { for: 'i', in: ['x', '"$y"'], do: ['d "$i"'] },
        ]],
        [['abort-*'], ['exit 0']],
      ] },
      { func: 'setup', body: { group: [{ redirected: { while: ['read l'], do: ['e'] }, to: ['</etc/f'] }] } },
      { until: ['f'], do: [{ subshell: ['g'] }] },
    ]);
  });

  it('binds pipelines tighter than && and ||, and ! to the whole pipeline', () => {
    assert.deepEqual(outline(parse('! a | b && c || d | e; f &\ng')), [
      [{ pipe: ['a', 'b'], bang: true }, '&&', 'c', '||', { pipe: ['d', 'e'], bang: false }],
      'f',
      'g',
    ]);
  });

  it('keeps a simple command\'s assignments apart from its words, with its text and line for reports', () => {
    const [cmd] = (parse('\n\nA=1 B="$x" cmd A=2 >f 2>>g') as Extract<Node, { t: 'list' }>).items;
    assert.ok(cmd?.t === 'simple');
    assert.deepEqual(cmd.assigns.map((a) => [a.name, a.value.text]), [['A', '1'], ['B', '"$x"']]);
    assert.deepEqual(cmd.words.map((w) => w.text), ['cmd', 'A=2'], 'an assignment after the command name is an argument');
    assert.deepEqual(cmd.redirs.map((r) => [r.fd, r.op, r.target.text]), [[undefined, '>', 'f'], [2, '>>', 'g']]);
    assert.equal(cmd.text, 'A=1 B="$x" cmd A=2 >f 2>>g');
    assert.equal(cmd.line, 3);
  });

  it('parses the body of a command substitution where it stands', () => {
    const [cmd] = (parse('x=$(if a; then b; fi)') as Extract<Node, { t: 'list' }>).items;
    assert.ok(cmd?.t === 'simple');
    const sub = cmd.assigns[0]!.value.parts.find((p) => p.k === 'cmd');
    assert.ok(sub?.k === 'cmd');
    assert.deepEqual(outline(sub.body), [{ if: [[['a'], ['b']]], else: undefined }]);
  });

  it('names the line of what it cannot read', () => {
    assert.throws(() => parse('#!/bin/sh\nfor x in a b\n  echo $x\ndone\n'), (e) => e instanceof ShellError && /^line 3: expected "do", found "echo"/.test(e.message));
    assert.throws(() => parse('if a; then\n  b\n'), (e) => e instanceof ShellError && /^line 3: expected "elif", "else" or "fi", found the end of the script/.test(e.message));
    assert.throws(() => parse('case $1 in\n  a) b\n  c) d;;\nesac'), (e) => e instanceof ShellError && /^line 3: expected ";;" or "esac", found "\)"/.test(e.message));
    assert.throws(() => parse('a\n&& b'), (e) => e instanceof ShellError && /^line 2: expected a command, found "&&"/.test(e.message));
    assert.throws(() => parse('x=$(a; fi)'), (e) => e instanceof ShellError && /^line 1: unexpected "fi"/.test(e.message));
  });
});
