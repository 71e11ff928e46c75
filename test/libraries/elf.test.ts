import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { debianArchitecture, isElf, isPithError, readElf, type ElfInfo } from 'pith';
import { missingTools } from '../fixtures/apt.ts';
import { makeElf } from '../fixtures/elf.ts';

const skip = missingTools({ readelf: 'binutils', gcc: 'gcc' });
const scratch = mkdtempSync(join(tmpdir(), 'pith-elf-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** What readelf -h -l -d says about each file, in the shape of ElfInfo. */
function readelf(files: string[]): Map<string, Partial<ElfInfo> & { machineName: string }> {
  const r = spawnSync('readelf', ['-h', '-l', '-d', '-W', ...files], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 256 << 20 });
  assert.ok(r.status === 0 || r.stdout.length > 0, r.stderr);
  const out = new Map<string, Partial<ElfInfo> & { machineName: string }>();
  // With several files readelf starts each with "File: NAME"; with one it does not.
  const chunks = files.length === 1 ? [[files[0]!, r.stdout] as const] : r.stdout.split(/^File: /m).slice(1).map((c) => [c.slice(0, c.indexOf('\n')), c] as const);
  for (const [file, text] of chunks) {
    const field = (name: string) => new RegExp(`^\\s*${name}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim();
    const all = (re: RegExp) => [...text.matchAll(re)].map((m) => m[1]!);
    const runpath = all(/\(RUNPATH\)\s+Library runpath: \[(.*)\]$/gm);
    const rpath = all(/\(RPATH\)\s+Library rpath: \[(.*)\]$/gm);
    out.set(file, {
      class: field('Class') === 'ELF64' ? 64 : 32,
      endian: field('Data')!.includes('little') ? 'little' : 'big',
      machineName: field('Machine')!,
      interpreter: /\[Requesting program interpreter: (.*)\]$/m.exec(text)?.[1],
      dynamic: /^Dynamic section at offset/m.test(text),
      needed: all(/\(NEEDED\)\s+Shared library: \[(.*)\]$/gm),
      soname: /\(SONAME\)\s+Library soname: \[(.*)\]$/m.exec(text)?.[1],
      runpath: runpath.length ? runpath.flatMap((p) => p.split(':')) : undefined,
      rpath: rpath.length ? rpath.flatMap((p) => p.split(':')) : undefined,
    });
  }
  return out;
}

function same(info: ElfInfo, oracle: Partial<ElfInfo>, file: string): void {
  const mine = { class: info.class, endian: info.endian, interpreter: info.interpreter, dynamic: info.dynamic, needed: info.needed, soname: info.soname, runpath: info.runpath, rpath: info.rpath };
  const theirs = { class: oracle.class, endian: oracle.endian, interpreter: oracle.interpreter, dynamic: oracle.dynamic, needed: oracle.needed, soname: oracle.soname, runpath: oracle.runpath, rpath: oracle.rpath };
  assert.deepEqual(mine, theirs, file);
}

function head(path: string, n: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(n);
    return b.subarray(0, readSync(fd, b, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

/** ELF files (symlinks resolved, each once) in `dir`, every `step`-th of them in name order. */
function elfFilesIn(dir: string, step: number): string[] {
  const seen = new Set<string>();
  for (const name of readdirSync(dir).sort()) {
    let real: string;
    try {
      real = realpathSync(join(dir, name));
      if (!statSync(real).isFile()) continue;
    } catch {
      continue;
    }
    if (isElf(head(real, 4))) seen.add(real);
  }
  return [...seen].filter((_, i) => i % step === 0);
}

describe('readElf', { skip }, () => {
  const multiarch = skip ? '' : spawnSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).stdout.trim();

  it('agrees with readelf on the host\'s programs and libraries', () => {
    const files = [...elfFilesIn('/usr/bin', 3), ...elfFilesIn(`/usr/lib/${multiarch}`, 5), ...elfFilesIn('/usr/sbin', 3)];
    assert.ok(files.length > 100, `only ${files.length} ELF files found`);
    const oracle = readelf(files);
    let dynamic = 0;
    for (const file of files) {
      const info = readElf(readFileSync(file), file);
      same(info, oracle.get(file)!, file);
      if (info.needed.length > 0) dynamic++;
      if (oracle.get(file)!.machineName === 'Advanced Micro Devices X86-64') assert.equal(info.architecture, 'amd64', file);
    }
    assert.ok(dynamic > 50, 'most host binaries are dynamically linked');
    const libc = readElf(readFileSync(realpathSync(`/usr/lib/${multiarch}/libc.so.6`)), 'libc.so.6');
    assert.equal(libc.soname, 'libc.so.6');
  });

  it('reads what gcc writes: NEEDED, SONAME, RUNPATH ($ORIGIN kept) or RPATH, static and static-pie', () => {
    const c = (name: string, text: string) => {
      writeFileSync(join(scratch, name), text);
      return join(scratch, name);
    };
    const gcc = (...args: string[]) => {
      const r = spawnSync('gcc', args, { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    };
    const lib = join(scratch, 'libpith.so.1');
    gcc('-shared', '-fPIC', '-Wl,-soname,libpith.so.1', '-o', lib, c('lib.c', 'int pith(void){return 42;}\n'));
    const main = c('main.c', 'int pith(void);\nint main(void){return pith()==42?0:1;}\n');
    const runpath = join(scratch, 'runpath');
    gcc('-o', runpath, main, lib, "-Wl,-rpath,$ORIGIN/../lib:/opt/pith/lib", '-Wl,--enable-new-dtags');
    const rpath = join(scratch, 'rpath');
    gcc('-o', rpath, main, lib, '-Wl,-rpath,/opt/old', '-Wl,--disable-new-dtags');
    const stat = join(scratch, 'static');
    gcc('-static', '-o', stat, c('s.c', 'int main(void){return 0;}\n'));
    const spie = join(scratch, 'static-pie');
    gcc('-static-pie', '-o', spie, join(scratch, 's.c'));
    const files = [lib, runpath, rpath, stat, spie];
    const oracle = readelf(files);
    for (const f of files) same(readElf(readFileSync(f), f), oracle.get(f)!, f);

    assert.equal(readElf(readFileSync(lib), lib).soname, 'libpith.so.1');
    const r = readElf(readFileSync(runpath), runpath);
    assert.deepEqual(r.runpath, ['$ORIGIN/../lib', '/opt/pith/lib']);
    assert.equal(r.rpath, undefined);
    assert.deepEqual(r.needed, ['libpith.so.1', 'libc.so.6']);
    assert.match(r.interpreter!, /^\/lib.*\/ld-linux.*\.so\.\d$/);
    assert.deepEqual(readElf(readFileSync(rpath), rpath).rpath, ['/opt/old']);
    const s = readElf(readFileSync(stat), stat);
    assert.deepEqual([s.dynamic, s.interpreter, s.needed], [false, undefined, []]);
    const sp = readElf(readFileSync(spie), spie);
    assert.deepEqual([sp.type, sp.dynamic, sp.interpreter, sp.needed], [3, true, undefined, []]);
  });

  it('reads both classes and byte orders, mapping machines to Debian architectures (readelf agrees)', () => {
    const cases = [
      { spec: { class: 64 as const, endian: 'little' as const, machine: 183, interpreter: '/lib/ld-linux-aarch64.so.1', needed: ['libc.so.6'] }, arch: 'arm64' },
      { spec: { class: 32 as const, endian: 'little' as const, machine: 40, flags: 0x05000400, interpreter: '/lib/ld-linux-armhf.so.3', needed: ['libc.so.6'] }, arch: 'armhf' },
      { spec: { class: 32 as const, endian: 'little' as const, machine: 40, flags: 0x05000200, needed: ['libc.so.6'] }, arch: 'armel' },
      { spec: { class: 64 as const, endian: 'big' as const, machine: 22, interpreter: '/lib/ld64.so.1', needed: ['libc.so.6'], runpath: '$ORIGIN' }, arch: 's390x' },
      { spec: { class: 64 as const, endian: 'little' as const, machine: 21, needed: ['libm.so.6'], soname: 'libx.so.2' }, arch: 'ppc64el' },
      { spec: { class: 64 as const, endian: 'big' as const, machine: 21, needed: ['libm.so.6'] }, arch: 'ppc64' },
      { spec: { class: 32 as const, endian: 'big' as const, machine: 8, needed: ['libc.so.6'], rpath: '/a:/b' }, arch: 'mips' },
      { spec: { class: 32 as const, endian: 'little' as const, machine: 3, interpreter: '/lib/ld-linux.so.2', needed: ['libc.so.6'] }, arch: 'i386' },
      { spec: { class: 64 as const, endian: 'little' as const, machine: 243, needed: ['libc.so.6'] }, arch: 'riscv64' },
      { spec: { class: 64 as const, endian: 'little' as const, machine: 9999 }, arch: undefined },
    ];
    const files = cases.map((c, i) => {
      const f = join(scratch, `synthetic-${i}`);
      writeFileSync(f, makeElf(c.spec));
      return f;
    });
    const oracle = readelf(files);
    cases.forEach((c, i) => {
      const info = readElf(readFileSync(files[i]!), files[i]!);
      same(info, oracle.get(files[i]!)!, files[i]!);
      assert.equal(info.architecture, c.arch, JSON.stringify(c.spec));
    });
    assert.equal(debianArchitecture(62, 32, 'little'), 'x32');
  });
});

describe('readElf on hostile input', () => {
  const good = makeElf({ interpreter: '/lib64/ld-linux-x86-64.so.2', needed: ['libc.so.6', 'libssl.so.3'], runpath: '$ORIGIN', soname: 'x' });
  const invalid = (e: unknown) => isPithError(e, 'ELF_INVALID') && e.message.startsWith('bad.bin: expected a well-formed ELF file, found ');

  it('a file that is not ELF is ELF_NOT_ELF; an empty one too', () => {
    for (const bytes of [Buffer.from('#!/bin/sh\necho hi\n'), new Uint8Array(0), Buffer.from('\x7fEL')]) {
      assert.equal(isElf(bytes), false);
      assert.throws(() => readElf(bytes, 'script'), (e) => isPithError(e, 'ELF_NOT_ELF') && e.message.startsWith('script: expected an ELF file'));
    }
  });

  it('every truncation is ELF_INVALID naming the file', () => {
    for (let n = 4; n < good.length; n++) {
      try {
        readElf(good.subarray(0, n), 'bad.bin');
        assert.fail(`a ${n}-byte prefix read without error`);
      } catch (e) {
        assert.ok(invalid(e), `${n}: ${(e as Error).message}`);
      }
    }
  });

  it('lying headers are refused before anything large is allocated', () => {
    const patch = (f: (v: DataView) => void) => {
      const b = new Uint8Array(good);
      f(new DataView(b.buffer));
      return b;
    };
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['class', patch((v) => v.setUint8(4, 7)), /EI_CLASS 7/],
      ['data', patch((v) => v.setUint8(5, 0)), /EI_DATA 0/],
      ['phnum', patch((v) => v.setUint16(56, 0xfffe, true)), /program header table of 65534 entries/],
      ['phoff', patch((v) => v.setBigUint64(32, 0xffffffffffffffffn, true)), /program header table/],
      ['phentsize', patch((v) => v.setUint16(54, 8, true)), /e_phentsize 8/],
      ['PN_XNUM without sections', patch((v) => v.setUint16(56, 0xffff, true)), /PN_XNUM/],
      ['dynamic filesz', patch((v) => v.setBigUint64(64 + 56 * 2 + 32, 1n << 40n, true)), /PT_DYNAMIC/],
      ['strtab address', patch((v) => {
        // The STRTAB entry is the one with tag 5 in the dynamic array (after NEEDED×2, SONAME, RUNPATH).
        const dyn = Number(v.getBigUint64(64 + 56 * 2 + 8, true));
        v.setBigUint64(dyn + 16 * 4 + 8, 0x10n, true);
      }), /DT_STRTAB address 0x10 inside no PT_LOAD/],
      ['string offset', patch((v) => {
        const dyn = Number(v.getBigUint64(64 + 56 * 2 + 8, true));
        v.setBigUint64(dyn + 8, 0x7fffffffn, true);
      }), /DT_NEEDED name .* outside its table/],
    ];
    for (const [name, bytes, re] of cases) {
      assert.throws(() => readElf(bytes, 'bad.bin'), (e) => invalid(e) && re.test((e as Error).message), name);
    }
  });

  it('a string without its NUL within the table is refused', () => {
    const b = new Uint8Array(good);
    // Overwrite the string table's terminators from "libc.so.6" on, up to the dynamic array.
    const at = Buffer.from(b).indexOf('libc.so.6');
    b.fill(0x41, at, at + 60);
    assert.throws(() => readElf(b, 'bad.bin'), (e) => invalid(e) && /without a terminating NUL|outside its table/.test((e as Error).message));
  });

  it('random corruption of a real header only ever yields a result or ELF_INVALID', () => {
    let seed = 0x9e3779b9;
    const rand = () => ((seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
    for (let i = 0; i < 3000; i++) {
      const b = new Uint8Array(good);
      const flips = 1 + Math.floor(rand() * 6);
      for (let j = 0; j < flips; j++) b[4 + Math.floor(rand() * (b.length - 4))] = Math.floor(rand() * 256);
      try {
        const info = readElf(b, 'bad.bin');
        assert.ok(Array.isArray(info.needed) && info.needed.length <= 16);
      } catch (e) {
        assert.ok(invalid(e), (e as Error).stack);
      }
    }
  });
});
