/**
 * The syntax tree of a shell script: what the lexer and the parser build and the interpreter walks. It sits below
 * all three so that each imports it without importing the others; ShellError is here for the same reason, since
 * every one of them can meet a script pith cannot read.
 */
import { PithError } from '../errors.ts';

/** A script pith cannot read: a syntax error, or more work than any maintainer script needs. */
export class ShellError extends PithError {
  constructor(message: string, line?: number) {
    super('SHELL_UNSUPPORTED', line === undefined ? message : `line ${line}: ${message}`, { details: { line } });
  }
}

/** A piece of a word; `q` (quoted) keeps it from field splitting and file-name patterns. */
export type Part =
  | { k: 'lit'; v: string; q: boolean }
  | { k: 'param'; name: string; op?: string; arg?: Part[]; q: boolean }
  | { k: 'cmd'; body: Node; text: string; q: boolean }
  | { k: 'arith'; text: string; q: boolean };

export interface Word {
  parts: Part[];
  text: string;
  line: number;
}

export interface Redir {
  op: string;
  fd?: number;
  target: Word;
}

export type Node =
  | { t: 'list'; items: Node[] }
  | { t: 'andor'; first: Node; rest: Array<{ op: '&&' | '||'; node: Node }> }
  | { t: 'pipe'; cmds: Node[]; bang: boolean }
  | { t: 'simple'; assigns: Array<{ name: string; value: Word }>; words: Word[]; redirs: Redir[]; line: number; text: string }
  | { t: 'if'; clauses: Array<{ cond: Node; body: Node }>; otherwise?: Node; line: number }
  | { t: 'for'; name: string; words: Word[] | null; body: Node; line: number }
  | { t: 'case'; word: Word; items: Array<{ patterns: Word[]; body: Node }>; line: number }
  | { t: 'loop'; until: boolean; cond: Node; body: Node; line: number }
  | { t: 'group'; body: Node; subshell: boolean }
  | { t: 'func'; name: string; body: Node }
  | { t: 'redirected'; node: Node; redirs: Redir[]; line: number; text: string };
