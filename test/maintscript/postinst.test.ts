import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { hasEffect, type CommandRun } from '../../src/maintscript/interpreter.ts';
import { compareDpkgVersions, evaluateMaintainerScript } from '../../src/maintscript/postinst.ts';
import { missingTools } from '../fixtures/apt.ts';

/** A first `postinst configure ""` of package `p` on an image holding `files`; what it would run. */
function postinst(script: string, files: string[] = []): CommandRun[] {
  return evaluateMaintainerScript(script, {
    package: 'p',
    architecture: 'amd64',
    nativeArchitecture: 'amd64',
    script: 'postinst',
    test: (op, path) => (op === '-e' || op === '-f' || op === '-x' ? files.includes(path) : op === '-d' || op === '-h' || op === '-L' ? false : undefined),
  }).commands;
}
const calls = (runs: CommandRun[], name = 'update-alternatives') => runs.filter((r) => r.name === name).map((r) => (r.certain ? r.args : { maybe: r.args, why: r.why }));

describe('evaluateMaintainerScript', () => {
  it('reads line continuations, quoting, and a comment that ends a continued command', () => {
    const runs = postinst(`#!/bin/sh
set -e
update-alternatives --quiet \\
    --install /usr/bin/cc cc /usr/bin/gcc 20 \\
    #--slave /usr/share/man/man1/cc.1.gz cc.1.gz /usr/share/man/man1/gcc.1.gz

update-alternatives --install "/usr/bin/my tool" 'my-tool' /usr/lib/x\\ y/tool "1"'0'
`);
    assert.deepEqual(calls(runs), [
      ['--quiet', '--install', '/usr/bin/cc', 'cc', '/usr/bin/gcc', '20'],
      ['--install', '/usr/bin/my tool', 'my-tool', '/usr/lib/x y/tool', '10'],
    ]);
    assert.equal(runs[0]!.line, 3);
    assert.equal(runs[1]!.line, 7);
  });

  it('follows variables, ${…} forms and the architecture dpkg reports, as openjdk\'s postinst uses them', () => {
    const runs = postinst(`#!/bin/sh
set -e
priority=1711
basedir=/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)
mandir=$basedir/man
jre_tools='java keytool'
case "$1" in
configure)
    if ! mountpoint -q /proc; then
        echo >&2 "the java command requires a mounted proc fs (/proc)."
        exit 1
    fi
    if [ -z "$2" ]; then
        update_alternatives=y
    fi
    if [ "$update_alternatives" = y ]; then
    if [ "$DPKG_MAINTSCRIPT_ARCH" != $(dpkg --print-architecture) ]; then
        priority=$(expr $priority - 1)
    fi
    for i in $jre_tools; do
        unset slave1 || true
        if [ -e $mandir/man1/$i.1.gz ]; then
            slave1="--slave /usr/share/man/man1/$i.1.gz $i.1.gz $mandir/man1/$i.1.gz"
        fi
        update-alternatives --install /usr/bin/$i $i \${basedir}/bin/$i $priority $slave1
    done
    fi
    ;;
*)
    echo "unknown argument $1" >&2
    exit 1
    ;;
esac
exit 0
`, ['/usr/lib/jvm/java-17-openjdk-amd64/man/man1/keytool.1.gz']);
    assert.deepEqual(calls(runs), [
      ['--install', '/usr/bin/java', 'java', '/usr/lib/jvm/java-17-openjdk-amd64/bin/java', '1711'],
      ['--install', '/usr/bin/keytool', 'keytool', '/usr/lib/jvm/java-17-openjdk-amd64/bin/keytool', '1711', '--slave', '/usr/share/man/man1/keytool.1.gz', 'keytool.1.gz', '/usr/lib/jvm/java-17-openjdk-amd64/man/man1/keytool.1.gz'],
    ]);
    assert.deepEqual(calls(runs, 'expr'), [], 'the package is native: the priority stays');
  });

  it('calls functions with their own arguments, deciding file tests on the image (procps)', () => {
    const script = `#!/bin/sh
set -e
check_alternatives() {
  BINNAME="$1"
  BINPATH="$2"
  if [ -e "$BINPATH"/"$BINNAME".procps ] ; then
    update-alternatives --install "$BINPATH"/"$BINNAME" "$BINNAME" "$BINPATH"/"$BINNAME".procps 50
  fi
}
if dpkg --compare-versions "$2" le "2:3.3.17-4"; then
  update-alternatives --remove w /usr/bin/w.procps
fi
check_alternatives "uptime" "/usr/bin"
check_alternatives "ps" "/bin"
`;
    assert.deepEqual(calls(postinst(script, ['/bin/ps.procps'])), [['--remove', 'w', '/usr/bin/w.procps'], ['--install', '/bin/ps', 'ps', '/bin/ps.procps', '50']]);
  });

  it('runs command substitutions whose output it can know (xz-utils builds its slaves with a function)', () => {
    const runs = postinst(`#!/bin/sh
set -e
slave () {
	dir=$1 filename=$2 target=$3
	echo "--slave $dir/$filename $filename $dir/$target"
}
update-alternatives --install /usr/bin/lzma lzma /usr/bin/xz 20 $(
	slave /usr/bin unlzma unxz
	for util in cat grep
	do
		slave /usr/bin lz$util xz$util
	done
)
`);
    assert.deepEqual(calls(runs), [['--install', '/usr/bin/lzma', 'lzma', '/usr/bin/xz', '20', '--slave', '/usr/bin/unlzma', 'unlzma', '/usr/bin/unxz', '--slave', '/usr/bin/lzcat', 'lzcat', '/usr/bin/xzcat', '--slave', '/usr/bin/lzgrep', 'lzgrep', '/usr/bin/xzgrep']]);
  });

  it('marks what depends on something it cannot know, and says why', () => {
    const runs = postinst(`#!/bin/sh
if [ "$DEBIAN_FRONTEND" != noninteractive ]; then
  choice=/usr/bin/a
fi
if which foo >/dev/null; then
  update-alternatives --install /usr/bin/foo foo /usr/bin/foo.real 10
fi
update-alternatives --install /usr/bin/x x "$choice" 1
update-alternatives --install /usr/bin/y y "$(readlink -f /usr/bin/z)" 1
`);
    const [foo, x, y] = runs.filter((r) => r.name === 'update-alternatives');
    assert.equal(foo!.certain, false);
    assert.equal(foo!.why, 'the condition "which foo >/dev/null" at line 5');
    assert.equal(x!.certain, true);
    assert.equal(x!.args, null, 'a variable set in one branch only is unknown after it');
    assert.equal(x!.why, '$choice');
    assert.equal(y!.args, null);
    assert.equal(y!.why, 'the output of "readlink -f /usr/bin/z"');
  });

  it('models a successful run: "exit 1" branches are not taken, an "exit 0" may end the script', () => {
    const runs = postinst(`#!/bin/sh
set -e
[ -x /usr/bin/tool ] || { echo missing >&2; exit 1; }
update-alternatives --install /usr/bin/t t /usr/bin/tool 1
if grep -q x /etc/y; then exit 0; fi
update-alternatives --install /usr/bin/u u /usr/bin/tool 1
`, ['/usr/bin/tool']);
    assert.deepEqual(calls(runs), [['--install', '/usr/bin/t', 't', '/usr/bin/tool', '1'], { maybe: ['--install', '/usr/bin/u', 'u', '/usr/bin/tool', '1'], why: 'the script may exit at line 5 (the condition "grep -q x /etc/y" at line 5)' }]);
  });

  it('skips here-documents, sees "$@" as dpkg passes it, and knows an empty version is the oldest', () => {
    const runs = postinst(`#!/bin/sh
cat > /etc/p.conf <<-EOF
	update-alternatives --install /usr/bin/not a /command 1
	EOF
set -- "$@"
if [ $# -eq 2 ] && [ "$1" = configure ] && dpkg --compare-versions "$2" lt 1.0; then
  update-alternatives --install /usr/bin/p p /usr/bin/p.real 1
fi
`);
    assert.deepEqual(calls(runs), [['--install', '/usr/bin/p', 'p', '/usr/bin/p.real', '1']]);
    const cat = runs.find((r) => r.name === 'cat')!;
    assert.deepEqual(cat.writes, ['/etc/p.conf']);
    assert.equal(hasEffect(cat), true, 'cat only reads, but this one writes a file');
    assert.equal(hasEffect(runs.find((r) => r.name === 'dpkg')!), false);
  });
});

describe('compareDpkgVersions', () => {
  const skip = missingTools({ dpkg: 'dpkg' });
  it('agrees with dpkg --compare-versions, empty versions included', { skip }, () => {
    for (const [a, b] of [['', '1.0'], ['1.0', ''], ['', ''], ['1:2.0-1', '2.0-1'], ['1.0~rc1', '1.0']]) {
      for (const op of ['lt', 'le', 'eq', 'ne', 'ge', 'gt', 'lt-nl', 'le-nl', 'ge-nl', 'gt-nl', '<<', '>>']) {
        const real = spawnSync('dpkg', ['--compare-versions', a!, op, b!]).status === 0;
        assert.equal(compareDpkgVersions(a!, op, b!), real, `"${a}" ${op} "${b}"`);
      }
    }
  });
});
