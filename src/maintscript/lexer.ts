/**
 * The first step of reading a script: text to tokens (words, operators, newlines), as POSIX sh splits them. Words
 * keep their quoting (which parts were quoted decides field splitting later) and their line, for error messages and
 * reports. Here-document bodies are skipped: their text is data, not commands.
 *
 * A command substitution `$(…)` is read to its end here, because only tokenizing its body finds the `)` that closes
 * it (one inside a case pattern does not). Its tokens go straight to the parser through `ParseNested`, handed in by
 * the parser, so that the lexer does not import the parser and errors still come in the order the script is read.
 */
import { ShellError, type Node, type Part, type Word } from './ast.ts';

export type Token =
  | { t: 'word'; word: Word; start: number; end: number; line: number }
  | { t: 'op'; op: string; fd?: number; start: number; end: number; line: number }
  | { t: 'nl'; start: number; end: number; line: number }
  | { t: 'eof'; start: number; end: number; line: number };

const OPERATORS = ['&&', '||', ';;', '<<-', '<<', '<&', '<>', '>>', '>&', '>|', ';', '&', '|', '(', ')', '<', '>'];
export const REDIRECTS = new Set(['<<-', '<<', '<&', '<>', '>>', '>&', '>|', '<', '>']);
const META = new Set([' ', '\t', '\n', ';', '&', '|', '(', ')', '<', '>']);
export const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '$', '!', '-']);

/** Parses the tokens of a command substitution's body (`src` is the text their offsets point into). */
export type ParseNested = (tokens: Token[], src: string) => Node;

export class Lexer {
  pos: number;
  line: number;
  readonly #pending: Array<{ delim: string; strip: boolean }> = [];

  constructor(readonly src: string, readonly parseNested: ParseNested, pos = 0, line = 1) {
    this.pos = pos;
    this.line = line;
  }

  /** Tokens to the end of the input or, inside `$(…)`, to its closing parenthesis (then `end` is just past it). */
  tokens(inSubstitution = false): { tokens: Token[]; end: number } {
    const out: Token[] = [];
    let depth = 0;
    let caseDepth = 0;
    const src = this.src;
    for (;;) {
      while (this.pos < src.length) {
        const ch = src[this.pos];
        if (ch === ' ' || ch === '\t') this.pos++;
        else if (ch === '\\' && src[this.pos + 1] === '\n') {
          this.pos += 2;
          this.line++;
        } else break;
      }
      const start = this.pos;
      if (this.pos >= src.length) {
        if (inSubstitution) throw new ShellError('expected ")" to close "$(", found the end of the script', this.line);
        out.push({ t: 'eof', start, end: start, line: this.line });
        return { tokens: out, end: this.pos };
      }
      const ch = src[this.pos]!;
      if (ch === '#') {
        while (this.pos < src.length && src[this.pos] !== '\n') this.pos++;
        continue;
      }
      if (ch === '\n') {
        out.push({ t: 'nl', start, end: start + 1, line: this.line });
        this.pos++;
        this.line++;
        this.#readHeredocs();
        continue;
      }
      const op = OPERATORS.find((o) => src.startsWith(o, this.pos));
      if (op !== undefined) {
        if (inSubstitution && op === '(') depth++;
        if (inSubstitution && op === ')') {
          if (depth === 0 && caseDepth === 0) {
            this.pos++;
            out.push({ t: 'eof', start, end: start, line: this.line });
            return { tokens: out, end: this.pos };
          }
          if (depth > 0) depth--;
        }
        this.pos += op.length;
        out.push({ t: 'op', op, start, end: this.pos, line: this.line });
        if (op === '<<' || op === '<<-') this.#heredocWord(out, op === '<<-');
        continue;
      }
      const line = this.line;
      const parts = this.readParts((c) => META.has(c));
      const text = src.slice(start, this.pos);
      const next = src[this.pos];
      if (/^\d+$/.test(text) && (next === '<' || next === '>')) {
        const rop = OPERATORS.find((o) => REDIRECTS.has(o) && src.startsWith(o, this.pos))!;
        this.pos += rop.length;
        out.push({ t: 'op', op: rop, fd: Number(text), start, end: this.pos, line });
        if (rop === '<<' || rop === '<<-') this.#heredocWord(out, rop === '<<-');
        continue;
      }
      out.push({ t: 'word', word: { parts, text, line }, start, end: this.pos, line });
      if (inSubstitution && text === 'case') caseDepth++;
      if (inSubstitution && text === 'esac' && caseDepth > 0) caseDepth--;
    }
  }

  #heredocWord(out: Token[], strip: boolean): void {
    while (this.src[this.pos] === ' ' || this.src[this.pos] === '\t') this.pos++;
    const start = this.pos;
    const line = this.line;
    const parts = this.readParts((c) => META.has(c));
    if (parts.length === 0) throw new ShellError('expected a here-document delimiter after "<<"', line);
    const delim = parts.map((p) => (p.k === 'lit' ? p.v : '')).join('');
    out.push({ t: 'word', word: { parts: [{ k: 'lit', v: delim, q: true }], text: this.src.slice(start, this.pos), line }, start, end: this.pos, line });
    this.#pending.push({ delim, strip });
  }

  /** Skips the bodies of the here-documents opened on the line just ended: their text is data, not commands. */
  #readHeredocs(): void {
    for (const { delim, strip } of this.#pending.splice(0)) {
      while (this.pos < this.src.length) {
        const nl = this.src.indexOf('\n', this.pos);
        const end = nl === -1 ? this.src.length : nl;
        const text = this.src.slice(this.pos, end);
        this.pos = nl === -1 ? end : end + 1;
        this.line++;
        if ((strip ? text.replace(/^\t+/, '') : text) === delim) break;
      }
    }
  }

  /** The parts of one word, up to an unquoted character `stop` accepts. */
  readParts(stop: (ch: string) => boolean): Part[] {
    const parts: Part[] = [];
    const lit = (v: string, q: boolean) => {
      const last = parts.at(-1);
      if (last?.k === 'lit' && last.q === q) last.v += v;
      else parts.push({ k: 'lit', v, q });
    };
    const src = this.src;
    while (this.pos < src.length) {
      const ch = src[this.pos]!;
      if (ch === '\\') {
        const next = src[this.pos + 1];
        if (next === '\n') {
          this.pos += 2;
          this.line++;
        } else if (next === undefined) {
          lit('\\', false);
          this.pos++;
        } else {
          lit(next, true);
          this.pos += 2;
        }
        continue;
      }
      if (stop(ch)) break;
      if (ch === "'") {
        const end = src.indexOf("'", this.pos + 1);
        if (end === -1) throw new ShellError('expected a closing single quote, found the end of the script', this.line);
        const v = src.slice(this.pos + 1, end);
        this.line += v.split('\n').length - 1;
        lit(v, true);
        this.pos = end + 1;
      } else if (ch === '"') {
        this.pos++;
        this.#readDoubleQuoted(parts, lit);
      } else if (ch === '$') {
        const p = this.#readDollar(false);
        if (p.k === 'lit') lit(p.v, false);
        else parts.push(p);
      } else if (ch === '`') {
        parts.push(this.#readBackquote(false));
      } else {
        if (ch === '\n') this.line++;
        lit(ch, false);
        this.pos++;
      }
    }
    return parts;
  }

  #readDoubleQuoted(parts: Part[], lit: (v: string, q: boolean) => void): void {
    const src = this.src;
    const startLine = this.line;
    const before = parts.length;
    const lastBefore = parts.at(-1);
    const lengthBefore = lastBefore?.k === 'lit' ? lastBefore.v.length : 0;
    for (;;) {
      if (this.pos >= src.length) throw new ShellError('expected a closing double quote, found the end of the script', startLine);
      const ch = src[this.pos]!;
      if (ch === '"') {
        this.pos++;
        // "" is an empty field of its own, but "$@" with no parameters is none.
        const grew = parts.length > before || (lastBefore?.k === 'lit' && lastBefore.v.length > lengthBefore);
        if (!grew) lit('', true);
        return;
      }
      if (ch === '\\') {
        const next = src[this.pos + 1];
        if (next === '\n') {
          this.pos += 2;
          this.line++;
          continue;
        }
        if (next === '$' || next === '`' || next === '"' || next === '\\') {
          lit(next, true);
          this.pos += 2;
          continue;
        }
        lit('\\', true);
        this.pos++;
        continue;
      }
      if (ch === '$') {
        const p = this.#readDollar(true);
        if (p.k === 'lit') lit(p.v, true);
        else parts.push(p);
        continue;
      }
      if (ch === '`') {
        parts.push(this.#readBackquote(true));
        continue;
      }
      if (ch === '\n') this.line++;
      lit(ch, true);
      this.pos++;
    }
  }

  #readDollar(q: boolean): Part {
    const src = this.src;
    const next = src[this.pos + 1];
    if (next === '{') return this.#readBrace(q);
    if (next === '(' && src[this.pos + 2] === '(') {
      let depth = 0;
      let i = this.pos + 3;
      for (; i < src.length; i++) {
        if (src[i] === '(') depth++;
        else if (src[i] === ')') {
          if (depth === 0 && src[i + 1] === ')') break;
          depth--;
        } else if (src[i] === '\n') this.line++;
      }
      if (i >= src.length) throw new ShellError('expected "))" to close "$((", found the end of the script', this.line);
      const text = src.slice(this.pos + 3, i);
      this.pos = i + 2;
      return { k: 'arith', text, q };
    }
    if (next === '(') {
      const sub = new Lexer(src, this.parseNested, this.pos + 2, this.line);
      const { tokens, end } = sub.tokens(true);
      const body = this.parseNested(tokens, src);
      const text = src.slice(this.pos, end);
      this.pos = end;
      this.line = sub.line;
      return { k: 'cmd', body, text, q };
    }
    if (next !== undefined && /[A-Za-z_]/.test(next)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(this.pos + 1))!;
      this.pos += 1 + m[0].length;
      return { k: 'param', name: m[0], q };
    }
    if (next !== undefined && (/\d/.test(next) || SPECIAL_PARAMS.has(next))) {
      this.pos += 2;
      return { k: 'param', name: next, q };
    }
    this.pos++;
    return { k: 'lit', v: '$', q };
  }

  #readBrace(q: boolean): Part {
    const src = this.src;
    const line = this.line;
    this.pos += 2;
    const rest = src.slice(this.pos);
    const length = /^#([A-Za-z_][A-Za-z0-9_]*|\d+|[@*#?$!-])\}/.exec(rest);
    if (length) {
      this.pos += length[0].length;
      return { k: 'param', name: length[1]!, op: 'length', q };
    }
    const m = /^([A-Za-z_][A-Za-z0-9_]*|\d+|[@*#?$!-])(:[-=?+]|[-=?+]|%%|%|##|#)?/.exec(rest);
    if (!m) throw new ShellError(`expected a parameter name after "\${", found ${JSON.stringify(rest.slice(0, 10))}`, line);
    this.pos += m[0].length;
    let arg: Part[] | undefined;
    if (m[2] !== undefined) arg = this.readParts((c) => c === '}');
    if (src[this.pos] !== '}') throw new ShellError('expected "}" to close "${", found the end of the script', line);
    this.pos++;
    return { k: 'param', name: m[1]!, op: m[2], arg, q };
  }

  #readBackquote(q: boolean): Part {
    const src = this.src;
    const line = this.line;
    let body = '';
    let i = this.pos + 1;
    for (; i < src.length && src[i] !== '`'; i++) {
      if (src[i] === '\\' && (src[i + 1] === '$' || src[i + 1] === '`' || src[i + 1] === '\\' || (q && src[i + 1] === '"'))) {
        body += src[++i];
        continue;
      }
      if (src[i] === '\n') this.line++;
      body += src[i];
    }
    if (i >= src.length) throw new ShellError('expected a closing backquote, found the end of the script', line);
    const text = src.slice(this.pos, i + 1);
    this.pos = i + 1;
    const { tokens } = new Lexer(body, this.parseNested, 0, line).tokens();
    return { k: 'cmd', body: this.parseNested(tokens, body), text, q };
  }
}
