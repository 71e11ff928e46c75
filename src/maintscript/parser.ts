/**
 * The second step of reading a script: tokens to a syntax tree (lists, and-or lists, pipelines, simple commands,
 * if/for/case/while/until, groups, subshells, function definitions, redirections), following the POSIX sh grammar.
 * A ShellError names the line of the first thing it cannot read.
 */
import { ShellError, type Node, type Part, type Redir, type Word } from './ast.ts';
import { Lexer, REDIRECTS, type Token } from './lexer.ts';

const CLOSERS = new Set(['then', 'elif', 'else', 'fi', 'do', 'done', 'esac', '}']);

class Parser {
  #i = 0;
  constructor(readonly toks: Token[], readonly src: string) {}

  #peek(): Token {
    return this.toks[this.#i]!;
  }

  #next(): Token {
    return this.toks[this.#i++]!;
  }

  #reserved(tok: Token, word?: string): string | undefined {
    if (tok.t !== 'word' || tok.word.parts.length !== 1) return undefined;
    const p = tok.word.parts[0]!;
    if (p.k !== 'lit' || p.q) return undefined;
    return word === undefined || p.v === word ? p.v : undefined;
  }

  #isOp(tok: Token, op: string): boolean {
    return tok.t === 'op' && tok.op === op && tok.fd === undefined;
  }

  #describe(tok: Token): string {
    return tok.t === 'eof' ? 'the end of the script' : tok.t === 'nl' ? 'a newline' : tok.t === 'op' ? JSON.stringify(tok.op) : JSON.stringify(tok.word.text);
  }

  #expect(word: string): void {
    const tok = this.#next();
    if (this.#reserved(tok, word) === undefined) throw new ShellError(`expected "${word}", found ${this.#describe(tok)}`, tok.line);
  }

  #linebreak(): void {
    while (this.#peek().t === 'nl') this.#i++;
  }

  program(): Node {
    const body = this.#list();
    const tok = this.#peek();
    if (tok.t !== 'eof') throw new ShellError(`unexpected ${this.#describe(tok)}`, tok.line);
    return body;
  }

  #list(): Node {
    const items: Node[] = [];
    for (;;) {
      this.#linebreak();
      const tok = this.#peek();
      if (tok.t === 'eof' || this.#isOp(tok, ')') || this.#isOp(tok, ';;')) break;
      const r = this.#reserved(tok);
      if (r !== undefined && CLOSERS.has(r)) break;
      items.push(this.#andOr());
      const sep = this.#peek();
      if (this.#isOp(sep, ';') || this.#isOp(sep, '&') || sep.t === 'nl') this.#i++;
      else break;
    }
    return { t: 'list', items };
  }

  #andOr(): Node {
    const first = this.#pipeline();
    const rest: Array<{ op: '&&' | '||'; node: Node }> = [];
    for (;;) {
      const tok = this.#peek();
      if (!this.#isOp(tok, '&&') && !this.#isOp(tok, '||')) break;
      this.#i++;
      this.#linebreak();
      rest.push({ op: (tok as { op: '&&' | '||' }).op, node: this.#pipeline() });
    }
    return rest.length === 0 ? first : { t: 'andor', first, rest };
  }

  #pipeline(): Node {
    let bang = false;
    if (this.#reserved(this.#peek(), '!') !== undefined) {
      this.#i++;
      bang = true;
    }
    const cmds = [this.#command()];
    while (this.#isOp(this.#peek(), '|')) {
      this.#i++;
      this.#linebreak();
      cmds.push(this.#command());
    }
    return cmds.length === 1 && !bang ? cmds[0]! : { t: 'pipe', cmds, bang };
  }

  #command(): Node {
    const tok = this.#peek();
    const r = this.#reserved(tok);
    let node: Node | undefined;
    if (r === 'if') node = this.#if();
    else if (r === 'for') node = this.#for();
    else if (r === 'case') node = this.#case();
    else if (r === 'while' || r === 'until') node = this.#loop(r === 'until');
    else if (r === '{') {
      this.#i++;
      const body = this.#list();
      this.#expect('}');
      node = { t: 'group', body, subshell: false };
    } else if (this.#isOp(tok, '(')) {
      this.#i++;
      const body = this.#list();
      const close = this.#next();
      if (!this.#isOp(close, ')')) throw new ShellError(`expected ")" to close the subshell, found ${this.#describe(close)}`, close.line);
      node = { t: 'group', body, subshell: true };
    } else if (tok.t === 'word' && this.#isOp(this.toks[this.#i + 1]!, '(') && this.#isOp(this.toks[this.#i + 2]!, ')')) {
      const name = this.#reserved(tok);
      if (name === undefined || !/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) throw new ShellError(`expected a function name, found ${JSON.stringify(tok.word.text)}`, tok.line);
      this.#i += 3;
      this.#linebreak();
      return { t: 'func', name, body: this.#command() };
    }
    if (node === undefined) return this.#simple();
    const redirs = this.#redirects();
    return redirs.length === 0 ? node : { t: 'redirected', node, redirs, line: tok.line, text: this.src.slice(tok.start, this.toks[this.#i - 1]!.end) };
  }

  #redirects(): Redir[] {
    const out: Redir[] = [];
    for (;;) {
      const tok = this.#peek();
      if (tok.t !== 'op' || !REDIRECTS.has(tok.op)) return out;
      this.#i++;
      const target = this.#next();
      if (target.t !== 'word') throw new ShellError(`expected a file after "${tok.op}", found ${this.#describe(target)}`, target.line);
      out.push({ op: tok.op, fd: tok.fd, target: target.word });
    }
  }

  #simple(): Node {
    const first = this.#peek();
    const assigns: Array<{ name: string; value: Word }> = [];
    const words: Word[] = [];
    const redirs: Redir[] = [];
    let last: Token = first;
    for (;;) {
      const tok = this.#peek();
      if (tok.t === 'op' && REDIRECTS.has(tok.op)) {
        redirs.push(...this.#redirects());
        last = this.toks[this.#i - 1]!;
        continue;
      }
      if (tok.t !== 'word') break;
      this.#i++;
      last = tok;
      const p0 = tok.word.parts[0];
      const m = words.length === 0 && p0?.k === 'lit' && !p0.q ? /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(p0.v) : null;
      if (m) {
        const parts: Part[] = [{ k: 'lit', v: (p0 as Extract<Part, { k: 'lit' }>).v.slice(m[0].length), q: false }, ...tok.word.parts.slice(1)];
        assigns.push({ name: m[1]!, value: { parts, text: tok.word.text.slice(m[0].length), line: tok.line } });
      } else {
        words.push(tok.word);
      }
    }
    if (assigns.length === 0 && words.length === 0 && redirs.length === 0) {
      throw new ShellError(`expected a command, found ${this.#describe(first)}`, first.line);
    }
    return { t: 'simple', assigns, words, redirs, line: first.line, text: this.src.slice(first.start, last.end) };
  }

  #if(): Node {
    const line = this.#next().line;
    const clauses: Array<{ cond: Node; body: Node }> = [];
    let otherwise: Node | undefined;
    for (;;) {
      const cond = this.#list();
      this.#expect('then');
      const body = this.#list();
      clauses.push({ cond, body });
      const tok = this.#next();
      const r = this.#reserved(tok);
      if (r === 'elif') continue;
      if (r === 'else') {
        otherwise = this.#list();
        this.#expect('fi');
        break;
      }
      if (r === 'fi') break;
      throw new ShellError(`expected "elif", "else" or "fi", found ${this.#describe(tok)}`, tok.line);
    }
    return { t: 'if', clauses, otherwise, line };
  }

  #loop(until: boolean): Node {
    const line = this.#next().line;
    const cond = this.#list();
    return { t: 'loop', until, cond, body: this.#doGroup(), line };
  }

  #doGroup(): Node {
    this.#expect('do');
    const body = this.#list();
    this.#expect('done');
    return body;
  }

  #for(): Node {
    const line = this.#next().line;
    const nameTok = this.#next();
    const name = this.#reserved(nameTok);
    if (name === undefined || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new ShellError(`expected a variable name after "for", found ${this.#describe(nameTok)}`, nameTok.line);
    let words: Word[] | null = null;
    this.#linebreak();
    if (this.#reserved(this.#peek(), 'in') !== undefined) {
      this.#i++;
      words = [];
      while (this.#peek().t === 'word') words.push((this.#next() as { word: Word }).word);
      const sep = this.#next();
      if (!this.#isOp(sep, ';') && sep.t !== 'nl') throw new ShellError(`expected ";" or a newline after the words of "for", found ${this.#describe(sep)}`, sep.line);
    } else if (this.#isOp(this.#peek(), ';')) {
      this.#i++;
    }
    this.#linebreak();
    return { t: 'for', name, words, body: this.#doGroup(), line };
  }

  #case(): Node {
    const line = this.#next().line;
    const wordTok = this.#next();
    if (wordTok.t !== 'word') throw new ShellError(`expected a word after "case", found ${this.#describe(wordTok)}`, wordTok.line);
    this.#linebreak();
    this.#expect('in');
    const items: Array<{ patterns: Word[]; body: Node }> = [];
    for (;;) {
      this.#linebreak();
      if (this.#reserved(this.#peek(), 'esac') !== undefined) {
        this.#i++;
        break;
      }
      if (this.#isOp(this.#peek(), '(')) this.#i++;
      const patterns: Word[] = [];
      for (;;) {
        const p = this.#next();
        if (p.t !== 'word') throw new ShellError(`expected a case pattern, found ${this.#describe(p)}`, p.line);
        patterns.push(p.word);
        const sep = this.#next();
        if (this.#isOp(sep, ')')) break;
        if (!this.#isOp(sep, '|')) throw new ShellError(`expected "|" or ")" after a case pattern, found ${this.#describe(sep)}`, sep.line);
      }
      const body = this.#list();
      items.push({ patterns, body });
      if (this.#isOp(this.#peek(), ';;')) this.#i++;
      else if (this.#reserved(this.#peek(), 'esac') === undefined) {
        const tok = this.#peek();
        throw new ShellError(`expected ";;" or "esac", found ${this.#describe(tok)}`, tok.line);
      }
    }
    return { t: 'case', word: wordTok.word, items, line };
  }
}

const parseNested = (tokens: Token[], src: string): Node => new Parser(tokens, src).program();

/** Parses a script; a ShellError names the line of anything it cannot read. */
export function parse(text: string): Node {
  const { tokens } = new Lexer(text, parseNested).tokens();
  return parseNested(tokens, text);
}
