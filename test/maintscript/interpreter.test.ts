import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ShellError } from '../../src/maintscript/ast.ts';
import { evaluateScript, hasEffect, UNKNOWN, type CommandRun, type ShellEnvironment } from '../../src/maintscript/interpreter.ts';

/** What `run` is called with in `script`, on an image where the paths in `files` exist and `/unknown` may. */
function runs(script: string, env: Partial<ShellEnvironment> = {}, files = ['/a']): Array<string[] | { unknown?: string } | { maybe: string[] | null; why?: string }> {
  const test = (_op: string, path: string) => (path === '/unknown' ? undefined : files.includes(path));
  return evaluateScript(script, { args: [], vars: {}, test, ...env })
    .commands.filter((c) => c.name === 'run')
    .map((c) => (!c.certain ? { maybe: c.args, why: c.why } : (c.args ?? { unknown: c.why })));
}

describe('evaluateScript', () => {
  it('evaluates any sh script given an environment', () => {
    const { commands } = evaluateScript('x=${1:-none}; y=${x%.txt}; echo "$y" > /tmp/out; run "$y" ${#x}', { args: ['file.txt'], vars: {}, test: () => undefined });
    assert.deepEqual(commands.map((c) => [c.name, c.args, c.writes]), [['echo', ['file'], ['/tmp/out']], ['run', ['file', '8'], []]]);
  });

  it('decides [ … -a … ] and [ … -o … ] when one side decides, whatever the other', () => {
    assert.deepEqual(runs('if [ -e /a -o -e /unknown ]; then run or; fi'), [['or']]);
    assert.deepEqual(runs('if [ -e /b -a -e /unknown ]; then run and; fi'), []);
    assert.deepEqual(runs('if [ -e /unknown -a -e /a ]; then run and; fi'), [{ maybe: ['and'], why: 'the condition "[ -e /unknown -a -e /a ]" at line 1' }]);
    assert.deepEqual(runs('if [ -e /b -o ! -e /a ]; then run neither; else run else; fi'), [['else']]);
    assert.deepEqual(runs('[ -e /a -a \\( -e /b -o x = x \\) ] && run grouped'), [['grouped']]);
  });

  it('treats an unset lower-case name as empty, an upper-case one as the caller\'s environment, and dpkg\'s as given', () => {
    assert.deepEqual(runs('run "$lower" "$ROOT" "$DPKG_ROOT"', { vars: { DPKG_ROOT: '' } }), [{ unknown: '$ROOT (from the environment dpkg runs the script in)' }]);
    assert.deepEqual(runs('unset ROOT; run "$lower" "$ROOT" "$DPKG_ROOT"', { vars: { DPKG_ROOT: '' } }), [['', '', '']]);
  });

  it('asks the caller\'s handlers what a command prints and returns, and marks what it answered', () => {
    const seen: CommandRun[] = [];
    const commands: ShellEnvironment['commands'] = {
      arch: (run: CommandRun) => (seen.push(run), { status: 0, stdout: 'amd64\n' }),
      probe: () => ({ status: 1 }),
      mystery: () => ({ status: 0, stdout: UNKNOWN }),
    };
    assert.deepEqual(runs('a=$(arch); probe || run "$a"; run "$(mystery)"', { commands }), [['amd64'], { unknown: 'the output of "mystery"' }]);
    assert.equal(seen[0]!.handled, true);
  });

  it('follows functions, loops with break, and set -- as dash does', () => {
    assert.deepEqual(runs('f() { for x in "$@"; do [ "$x" = stop ] && break; run "$x"; done; }\nset -- a "b c" stop d\nf "$@"'), [['a'], ['b c']]);
  });

  it('names what it will not follow: calls nested too deep', () => {
    assert.throws(() => evaluateScript('f() { f; }\nf\n', { args: [], vars: {}, test: () => undefined }), (e) => e instanceof ShellError && /nested at most/.test(e.message));
  });
});

describe('hasEffect', () => {
  const ran = (script: string) => evaluateScript(script, { args: [], vars: {}, test: () => undefined, commands: { handled: () => ({ status: 0 }) } }).commands;
  it('counts a command that only reads as harmless, unless it writes a file or edits in place', () => {
    const effects = ran('grep x /etc/f; sed -n p /etc/f; sed -i s/a/b/ /etc/f; find /x -name y; find /x -delete; echo hi >/etc/g; cat /etc/f >/dev/null; handled; useradd u')
      .map((c) => [c.text, hasEffect(c)]);
    assert.deepEqual(effects, [
      ['grep x /etc/f', false],
      ['sed -n p /etc/f', false],
      ['sed -i s/a/b/ /etc/f', true],
      ['find /x -name y', false],
      ['find /x -delete', true],
      ['echo hi >/etc/g', true],
      ['cat /etc/f >/dev/null', false],
      ['handled', false],
      ['useradd u', true],
    ]);
  });
});
