/**
 * A small ELF reader: just what the library closure needs (class, byte order, machine, interpreter and the dynamic
 * section's NEEDED, RUNPATH, RPATH and SONAME). It reads bytes the user or a package supplied, so every offset is
 * checked before use and every count is bounded by the file's size: garbage or a truncated file is an ELF_INVALID
 * naming the file and what was wrong, never an exception from a typed array or a huge allocation.
 */
import { PithError } from '../errors.ts';

export interface ElfInfo {
  class: 32 | 64;
  endian: 'little' | 'big';
  /** e_type: 1 relocatable, 2 executable, 3 shared object (PIE executables too), 4 core. */
  type: number;
  /** e_machine, e.g. 62 for x86-64. */
  machine: number;
  flags: number;
  /** The Debian architecture this object is for, when pith knows the machine. */
  architecture?: string;
  /** PT_INTERP: the program interpreter (dynamic loader) an executable asks for. */
  interpreter?: string;
  /** Has a PT_DYNAMIC segment: linked dynamically (static-pie has one too, with no NEEDED). */
  dynamic: boolean;
  /** DT_NEEDED, in order. */
  needed: string[];
  /** DT_RUNPATH, split at ':' (tokens such as $ORIGIN left as they are). */
  runpath?: string[];
  /** DT_RPATH, split at ':'. */
  rpath?: string[];
  soname?: string;
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

/** ELF machine numbers (e_machine) pith maps to Debian architectures. */
const EM = {
  I386: 3, M68K: 4, MIPS: 8, PARISC: 15, PPC: 20, PPC64: 21, S390: 22, ARM: 40, SH: 42, SPARCV9: 43, IA_64: 50,
  X86_64: 62, AARCH64: 183, RISCV: 243, LOONGARCH: 258, ALPHA: 0x9026,
} as const;

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_SONAME = 14;
const DT_RPATH = 15;
const DT_RUNPATH = 29;
/** e_phnum's escape value: the real count is in section header 0's sh_info. */
const PN_XNUM = 0xffff;
/** Longer than any path or soname a loader accepts (PATH_MAX is 4096): beyond it the string is garbage. */
const MAX_STRING = 4096;
const EF_ARM_ABI_FLOAT_HARD = 0x400;

/** True when `bytes` starts with the ELF magic number. */
export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && ELF_MAGIC.every((b, i) => bytes[i] === b);
}

/** Machines that are one Debian architecture whatever the class, byte order and flags. */
const SINGLE_ARCHITECTURE: ReadonlyMap<number, string> = new Map([
  [EM.I386, 'i386'], [EM.PPC, 'powerpc'], [EM.SPARCV9, 'sparc64'], [EM.ALPHA, 'alpha'], [EM.IA_64, 'ia64'],
  [EM.M68K, 'm68k'], [EM.SH, 'sh4'], [EM.PARISC, 'hppa'],
]);

/** The Debian architecture of an ELF object from its machine, class, byte order and flags; undefined when unknown. */
export function debianArchitecture(machine: number, elfClass: 32 | 64, endian: 'little' | 'big', flags = 0): string | undefined {
  const le = endian === 'little';
  switch (machine) {
    case EM.X86_64:
      return elfClass === 64 ? 'amd64' : 'x32';
    case EM.AARCH64:
      return le && elfClass === 64 ? 'arm64' : undefined;
    case EM.ARM:
      return le ? (flags & EF_ARM_ABI_FLOAT_HARD ? 'armhf' : 'armel') : undefined;
    case EM.PPC64:
      return le ? 'ppc64el' : 'ppc64';
    case EM.S390:
      return elfClass === 64 ? 's390x' : 's390';
    case EM.RISCV:
      return elfClass === 64 ? 'riscv64' : undefined;
    case EM.MIPS:
      return elfClass === 64 ? (le ? 'mips64el' : 'mips64') : le ? 'mipsel' : 'mips';
    case EM.LOONGARCH:
      return elfClass === 64 ? 'loong64' : undefined;
    default:
      return SINGLE_ARCHITECTURE.get(machine);
  }
}

/** Debian architecture → GNU multiarch triplet: the library directory (/usr/lib/<triplet>) glibc searches by default. */
export const MULTIARCH_TRIPLETS: Readonly<Record<string, string>> = {
  amd64: 'x86_64-linux-gnu',
  arm64: 'aarch64-linux-gnu',
  armel: 'arm-linux-gnueabi',
  armhf: 'arm-linux-gnueabihf',
  i386: 'i386-linux-gnu',
  mips64el: 'mips64el-linux-gnuabi64',
  mipsel: 'mipsel-linux-gnu',
  ppc64el: 'powerpc64le-linux-gnu',
  riscv64: 'riscv64-linux-gnu',
  s390x: 's390x-linux-gnu',
  loong64: 'loongarch64-linux-gnu',
  x32: 'x86_64-linux-gnux32',
  alpha: 'alpha-linux-gnu',
  hppa: 'hppa-linux-gnu',
  ia64: 'ia64-linux-gnu',
  m68k: 'm68k-linux-gnu',
  powerpc: 'powerpc-linux-gnu',
  ppc64: 'powerpc64-linux-gnu',
  sh4: 'sh4-linux-gnu',
  sparc64: 'sparc64-linux-gnu',
};

class Reader {
  readonly view: DataView;
  readonly le: boolean;
  readonly wide: boolean;
  constructor(readonly bytes: Uint8Array, le: boolean, wide: boolean, readonly where: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.le = le;
    this.wide = wide;
  }

  fail(what: string): never {
    throw new PithError('ELF_INVALID', `${this.where}: expected a well-formed ELF file, found ${what}`, { details: { file: this.where } });
  }

  check(offset: number, size: number, what: string): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || size < 0 || offset + size > this.bytes.length) {
      this.fail(`${what} at offset ${offset} (+${size}) beyond the end of the file (${this.bytes.length} bytes)`);
    }
  }

  u16(offset: number, what: string): number {
    this.check(offset, 2, what);
    return this.view.getUint16(offset, this.le);
  }

  u32(offset: number, what: string): number {
    this.check(offset, 4, what);
    return this.view.getUint32(offset, this.le);
  }

  /** An address, offset or size: 4 bytes in ELF32, 8 in ELF64. Values beyond 2^53 cannot be offsets in a file. */
  word(offset: number, what: string): number {
    if (!this.wide) return this.u32(offset, what);
    this.check(offset, 8, what);
    const v = this.view.getBigUint64(offset, this.le);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }

  /** Signed word, for dynamic tags (DT_* values that are negative are processor-specific). */
  sword(offset: number, what: string): number {
    if (!this.wide) {
      this.check(offset, 4, what);
      return this.view.getInt32(offset, this.le);
    }
    this.check(offset, 8, what);
    const v = this.view.getBigInt64(offset, this.le);
    return v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER) ? -1 : Number(v);
  }

  /** A NUL-terminated string at `offset`, never reading past `end` or MAX_STRING bytes. */
  cstring(offset: number, end: number, what: string): string {
    const limit = Math.min(end, this.bytes.length, offset + MAX_STRING);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= limit) this.fail(`${what} at offset ${offset} outside its table`);
    const nul = this.bytes.indexOf(0, offset);
    if (nul === -1 || nul >= limit) this.fail(`${what} at offset ${offset} without a terminating NUL within ${limit - offset} bytes`);
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + offset, nul - offset).toString('utf8');
  }
}

interface Segment {
  type: number;
  offset: number;
  vaddr: number;
  filesz: number;
}

/**
 * Reads an ELF file's identity and dynamic-linking needs. `where` names the file in errors. A file that does not
 * start with the ELF magic is an ELF_NOT_ELF; any inconsistency after that is an ELF_INVALID.
 */
export function readElf(bytes: Uint8Array, where: string): ElfInfo {
  if (!isElf(bytes)) {
    throw new PithError('ELF_NOT_ELF', `${where}: expected an ELF file (starting with 0x7f "ELF"), found other data`, { details: { file: where } });
  }
  const ident = (i: number) => bytes[i] ?? -1;
  const cls = ident(4);
  const data = ident(5);
  const probe: Reader = new Reader(bytes, true, false, where);
  if (cls !== 1 && cls !== 2) probe.fail(`EI_CLASS ${cls} (expected 1 for 32-bit or 2 for 64-bit)`);
  if (data !== 1 && data !== 2) probe.fail(`EI_DATA ${data} (expected 1 for little-endian or 2 for big-endian)`);
  if (ident(6) !== 1) probe.fail(`EI_VERSION ${ident(6)} (expected 1)`);
  const wide = cls === 2;
  const r: Reader = new Reader(bytes, data === 1, wide, where);
  const ehsize = wide ? 64 : 52;
  r.check(0, ehsize, 'the ELF header');
  const type = r.u16(16, 'e_type');
  const machine = r.u16(18, 'e_machine');
  const phoff = r.word(wide ? 32 : 28, 'e_phoff');
  const shoff = r.word(wide ? 40 : 32, 'e_shoff');
  const flags = r.u32(wide ? 48 : 36, 'e_flags');
  const phentsize = r.u16(wide ? 54 : 42, 'e_phentsize');
  let phnum = r.u16(wide ? 56 : 44, 'e_phnum');
  const elfClass = wide ? 64 : 32;
  const endian = data === 1 ? 'little' : 'big';

  if (phnum === PN_XNUM) {
    if (shoff === 0) r.fail('e_phnum PN_XNUM without a section header to hold the real count');
    phnum = r.u32(shoff + (wide ? 44 : 28), 'section header 0 sh_info (the program header count)');
  }
  const segments: Segment[] = [];
  if (phnum > 0 && phoff !== 0) {
    const minEnt = wide ? 56 : 32;
    if (phentsize < minEnt) r.fail(`e_phentsize ${phentsize} (expected at least ${minEnt})`);
    // Bounded by the file: a table claiming more entries than fit is refused before anything is allocated.
    r.check(phoff, phnum * phentsize, `a program header table of ${phnum} entries`);
    for (let i = 0; i < phnum; i++) {
      const at = phoff + i * phentsize;
      const what = `program header ${i}`;
      segments.push(
        wide
          ? { type: r.u32(at, what), offset: r.word(at + 8, what), vaddr: r.word(at + 16, what), filesz: r.word(at + 32, what) }
          : { type: r.u32(at, what), offset: r.word(at + 4, what), vaddr: r.word(at + 8, what), filesz: r.word(at + 16, what) },
      );
    }
  }

  const info: ElfInfo = {
    class: elfClass,
    endian,
    type,
    machine,
    flags,
    architecture: debianArchitecture(machine, elfClass, endian, flags),
    dynamic: false,
    needed: [],
  };

  const interp = segments.find((s) => s.type === PT_INTERP);
  if (interp) {
    r.check(interp.offset, interp.filesz, 'PT_INTERP');
    info.interpreter = r.cstring(interp.offset, interp.offset + interp.filesz, 'the PT_INTERP path');
    if (info.interpreter === '') r.fail('an empty PT_INTERP path');
  }

  const dyn = segments.find((s) => s.type === PT_DYNAMIC);
  if (!dyn) return info;
  info.dynamic = true;
  const entsize = wide ? 16 : 8;
  r.check(dyn.offset, dyn.filesz, 'PT_DYNAMIC');
  const count = Math.floor(dyn.filesz / entsize);
  const entries: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    const at = dyn.offset + i * entsize;
    const tag = r.sword(at, `dynamic entry ${i}`);
    if (tag === DT_NULL) break;
    entries.push([tag, r.word(at + (wide ? 8 : 4), `dynamic entry ${i}`)]);
  }
  const value = (tag: number) => entries.find(([t]) => t === tag)?.[1];
  const strtabAddr = value(DT_STRTAB);
  const wantsStrings = entries.some(([t]) => t === DT_NEEDED || t === DT_SONAME || t === DT_RPATH || t === DT_RUNPATH);
  if (!wantsStrings) return info;
  if (strtabAddr === undefined) r.fail('DT_NEEDED/DT_SONAME/DT_RPATH/DT_RUNPATH entries without a DT_STRTAB');
  // DT_STRTAB is an address: the loader finds it in memory, pith through the PT_LOAD segment that maps it.
  const load = segments.find((s) => s.type === PT_LOAD && strtabAddr >= s.vaddr && strtabAddr < s.vaddr + s.filesz);
  if (!load) r.fail(`DT_STRTAB address 0x${strtabAddr.toString(16)} inside no PT_LOAD segment's file contents`);
  const strtab = load.offset + (strtabAddr - load.vaddr);
  const loadEnd = load.offset + load.filesz;
  const strsz = value(DT_STRSZ);
  const strEnd = Math.min(loadEnd, strsz === undefined ? loadEnd : strtab + strsz, bytes.length);
  r.check(strtab, 0, 'the dynamic string table');
  const str = (off: number, what: string) => r.cstring(strtab + off, strEnd, what);
  for (const [tag, v] of entries) {
    if (tag === DT_NEEDED) info.needed.push(str(v, 'a DT_NEEDED name'));
    else if (tag === DT_SONAME) info.soname = str(v, 'the DT_SONAME');
    else if (tag === DT_RUNPATH) info.runpath = [...(info.runpath ?? []), ...str(v, 'the DT_RUNPATH').split(':')];
    else if (tag === DT_RPATH) info.rpath = [...(info.rpath ?? []), ...str(v, 'the DT_RPATH').split(':')];
  }
  return info;
}
