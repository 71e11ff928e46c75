/**
 * The third step: a static reading of a parsed script. pith never runs a maintainer script, but to write what one
 * would have done it has to know what the script would have run. This evaluates the POSIX sh that maintainer
 * scripts are written in (variables and `${…}` forms, functions, if/case/for/while, `[ ]`, command substitution)
 * without running anything: commands are recorded and handed to the caller, file tests look at the image tree, and
 * nothing touches the host. What dpkg adds around a maintainer script is in ./postinst.ts.
 *
 * What cannot be known (a command's output, a variable from the environment, a condition on a running system)
 * stays unknown, and so does everything that depends on it: a command reached only through such a condition is
 * recorded as uncertain, with the reason, so that the caller reports it instead of guessing.
 *
 * One assumption shapes the evaluation: the run being modelled succeeded (the image exists, so configuring worked).
 * A branch that ends in `exit N` with N ≠ 0 is therefore never taken, and under `set -e` a command succeeds.
 */
import { ShellError, type Node, type Part, type Redir } from './ast.ts';
import { SPECIAL_PARAMS } from './lexer.ts';
import { parse } from './parser.ts';

export const UNKNOWN: unique symbol = Symbol('unknown');
export type Value = string | typeof UNKNOWN;
type Status = number | typeof UNKNOWN;

/** One command the script runs (anything but the shell's own bookkeeping builtins), in the order it runs. */
export interface CommandRun {
  name: string;
  /** Arguments after expansion; null when one of them cannot be known (see `why`). */
  args: string[] | null;
  line: number;
  /** The command as written, for reports. */
  text: string;
  /** Runs in every successful configure; false when it depends on something unknown (see `why`). */
  certain: boolean;
  why?: string;
  /** Files its redirections write (`?` for a target that cannot be known). */
  writes: string[];
  /** A handler accounted for what the command does (see `ShellEnvironment.commands`). */
  handled: boolean;
}

export interface CommandResult {
  status: Status;
  stdout?: Value;
}

export interface ShellEnvironment {
  /** The positional parameters: `['configure', '']` for a first configure. */
  args: string[];
  /** `$0`. */
  arg0?: string;
  /** Variables set before the script starts. Any other name the script reads without setting is empty, except names in upper case, which may come from the caller's environment and so are unknown. */
  vars: Record<string, string>;
  /** A file test (`-e`, `-f`, `-d`, `-h`, `-L`, `-x`, `-r`, `-w`, `-s`, …) on the image; undefined when it cannot be known. */
  test(op: string, path: string): boolean | undefined;
  /** Commands the caller models. A handler is called for every run of the command, certain or not; returning undefined leaves it unknown. */
  commands?: Record<string, (run: CommandRun) => CommandResult | undefined>;
}

export interface ScriptEvaluation {
  commands: CommandRun[];
}

/** Commands that only read: running them changes nothing in the image (their output may still be unknown). */
const READ_ONLY = new Set([
  'basename', 'cat', 'cmp', 'command', 'cut', 'diff', 'dirname', 'echo', 'expr', 'find', 'getent', 'grep', 'head', 'hash', 'id', 'ls',
  'mountpoint', 'printf', 'readlink', 'realpath', 'sed', 'sort', 'stat', 'tail', 'tr', 'type', 'uname', 'uniq', 'wc', 'which',
]);

/** Whether a recorded command may have changed the system beyond what its handler accounted for. */
export function hasEffect(run: CommandRun): boolean {
  if (run.writes.length > 0) return true;
  if (run.handled) return false;
  if (run.name === 'sed' && run.args?.some((a) => /^-[a-zA-Z]*i/.test(a) || a.startsWith('--in-place'))) return true;
  if (run.name === 'find' && run.args?.some((a) => a === '-delete' || a.startsWith('-exec') || a.startsWith('-ok'))) return true;
  return !READ_ONLY.has(run.name);
}

class ExitSignal {
  constructor(readonly code: Status, readonly line: number) {}
}
class ReturnSignal {
  constructor(readonly code: Status, readonly line: number) {}
}
class LoopSignal {
  constructor(readonly kind: 'break' | 'continue', readonly levels: number, readonly line: number) {}
}

interface State {
  vars: Map<string, Value>;
  /** Names the script unset: empty from then on, even upper-case ones. */
  cleared: Set<string>;
  funcs: Map<string, Node>;
  positional: Value[] | typeof UNKNOWN;
  errexit: boolean;
  status: Status;
}

interface Scope {
  /** Set when an uncertain branch may have left the function (return) or loop (break, continue): why the rest is uncertain. */
  maybeLeft?: string;
}

interface Ctx {
  certain: boolean;
  why?: string;
  /** Evaluating a condition: `set -e` does not apply, so a command's status stays unknown. */
  cond: boolean;
  /** Captures standard output inside `$(…)`. */
  out: { text: string; unknown?: string } | null;
  fn: Scope | null;
  loop: Scope | null;
}

const MAX_STEPS = 200_000;
const MAX_DEPTH = 100;

class Interpreter {
  readonly commands: CommandRun[] = [];
  #steps = 0;
  #depth = 0;
  /** Why the script may have stopped already (an `exit` in an uncertain branch). */
  #maybeExited: string | undefined;
  /** Why the last expansion came out unknown. */
  #unknownWhy = '';

  constructor(readonly env: ShellEnvironment) {}

  run(node: Node): void {
    const st: State = {
      vars: new Map(Object.entries(this.env.vars)),
      cleared: new Set(),
      funcs: new Map(),
      positional: [...this.env.args],
      errexit: false,
      status: 0,
    };
    const c: Ctx = { certain: true, cond: false, out: null, fn: null, loop: null };
    try {
      this.#exec(node, st, c);
    } catch (e) {
      if (!(e instanceof ExitSignal || e instanceof ReturnSignal || e instanceof LoopSignal)) throw e;
    }
  }

  #why(c: Ctx): string | undefined {
    if (!c.certain) return c.why;
    return this.#maybeExited ?? c.fn?.maybeLeft ?? c.loop?.maybeLeft;
  }

  #exec(node: Node, st: State, c: Ctx): Status {
    if (++this.#steps > MAX_STEPS) throw new ShellError(`expected a script pith can follow in ${MAX_STEPS} steps, found more (a loop without end?)`);
    switch (node.t) {
      case 'list': {
        let status: Status = 0;
        for (const item of node.items) status = this.#exec(item, st, c);
        return status;
      }
      case 'andor': {
        let status = this.#exec(node.first, st, { ...c, cond: true });
        let decided = node.first;
        for (let i = 0; i < node.rest.length; i++) {
          const { op, node: next } = node.rest[i]!;
          const lastOne = i === node.rest.length - 1;
          const cc = lastOne ? c : { ...c, cond: true };
          if (status === UNKNOWN) {
            const why = `the result of "${textOf(decided)}"`;
            status = this.#fork(st, c, why, [{ node: next, run: (s, cx) => this.#exec(next, s, lastOne ? cx : { ...cx, cond: true }) }, { node: null, run: () => UNKNOWN }]);
          } else if ((op === '&&' && status === 0) || (op === '||' && status !== 0)) status = this.#exec(next, st, cc);
          decided = next;
        }
        st.status = status;
        return status;
      }
      case 'pipe': {
        let status: Status = 0;
        for (const [i, cmd] of node.cmds.entries()) {
          const last = i === node.cmds.length - 1;
          const cc = { ...c, cond: c.cond || node.bang, out: last ? c.out : null };
          status = node.cmds.length === 1 ? this.#exec(cmd, st, cc) : this.#subshell(cmd, st, cc);
        }
        if (node.bang) status = status === UNKNOWN ? UNKNOWN : status === 0 ? 1 : 0;
        st.status = status;
        return status;
      }
      case 'simple':
        return this.#simple(node, st, c);
      case 'if':
        return this.#ifFrom(node, 0, st, c);
      case 'case': {
        const word = this.#expandSingle(node.word.parts, st, c);
        return this.#caseFrom(node, 0, word, word === UNKNOWN ? this.#unknownWhy : '', st, c);
      }
      case 'for':
        return this.#for(node, st, c);
      case 'loop':
        return this.#loop(node, st, c);
      case 'group':
        return node.subshell ? this.#subshell(node.body, st, c) : this.#exec(node.body, st, c);
      case 'func':
        st.funcs.set(node.name, node.body);
        return 0;
      case 'redirected': {
        const { writes, stdout } = this.#redirections(node.redirs, st, c);
        if (writes.length > 0) this.#record(node.node.t, [], node.line, node.text, c, writes, false);
        return this.#exec(node.node, st, stdout ? { ...c, out: null } : c);
      }
    }
  }

  #subshell(node: Node, st: State, c: Ctx): Status {
    const inner = cloneState(st);
    try {
      return this.#exec(node, inner, { ...c, fn: null, loop: null });
    } catch (e) {
      if (e instanceof ExitSignal) return e.code;
      if (e instanceof ReturnSignal) return e.code;
      if (e instanceof LoopSignal) return 0;
      throw e;
    }
  }

  /**
   * Runs the branches a condition pith cannot decide leaves open, each on its own copy of the state, and merges
   * what they leave behind (a variable the branches disagree on becomes unknown). A branch that always ends in a
   * failing `exit` is not taken: the modelled run succeeded. What runs in the others is uncertain.
   */
  #fork(st: State, c: Ctx, why: string, branches: Array<{ node: Node | null; run: (st: State, c: Ctx) => Status }>): Status {
    const alive = branches.filter((b) => b.node === null || !alwaysFails(b.node));
    if (alive.length === 0) throw new ExitSignal(1, 0);
    if (alive.length === 1) return alive[0]!.run(st, c);
    const results: Array<{ state: State; status: Status }> = [];
    for (const b of alive) {
      const state = cloneState(st);
      const cc: Ctx = { ...c, certain: false, why: this.#why(c) ?? why };
      try {
        results.push({ state, status: b.run(state, cc) });
      } catch (e) {
        if (e instanceof ExitSignal) {
          if (e.code !== UNKNOWN && e.code !== 0) continue;
          this.#maybeExited ??= `the script may exit at line ${e.line} (${why})`;
        } else if (e instanceof ReturnSignal) {
          if (c.fn) c.fn.maybeLeft ??= `the function may return at line ${e.line} (${why})`;
        } else if (e instanceof LoopSignal) {
          if (c.loop) c.loop.maybeLeft ??= `the loop may ${e.kind} at line ${e.line} (${why})`;
        } else {
          throw e;
        }
        results.push({ state, status: UNKNOWN });
      }
    }
    if (results.length === 0) throw new ExitSignal(1, 0);
    const merged = results.slice(1).reduce((a, b) => mergeStates(a, b.state), results[0]!.state);
    Object.assign(st, merged);
    const statuses = new Set(results.map((r) => r.status));
    return statuses.size === 1 ? results[0]!.status : UNKNOWN;
  }

  #ifFrom(node: Extract<Node, { t: 'if' }>, k: number, st: State, c: Ctx): Status {
    if (k === node.clauses.length) return node.otherwise ? this.#exec(node.otherwise, st, c) : 0;
    const { cond, body } = node.clauses[k]!;
    const status = this.#exec(cond, st, { ...c, cond: true });
    if (status === 0) return this.#exec(body, st, c);
    if (status !== UNKNOWN) return this.#ifFrom(node, k + 1, st, c);
    const rest = k + 1 < node.clauses.length ? node.clauses[k + 1]!.cond : (node.otherwise ?? null);
    return this.#fork(st, c, `the condition "${textOf(cond)}" at line ${node.line}`, [
      { node: body, run: (s, cx) => this.#exec(body, s, cx) },
      { node: k + 1 === node.clauses.length ? rest : null, run: (s, cx) => this.#ifFrom(node, k + 1, s, cx) },
    ]);
  }

  #caseFrom(node: Extract<Node, { t: 'case' }>, k: number, word: Value, wordWhy: string, st: State, c: Ctx): Status {
    if (k === node.items.length) return 0;
    const item = node.items[k]!;
    let match: boolean | typeof UNKNOWN = false;
    let why = wordWhy;
    for (const p of item.patterns) {
      const re = this.#expandPattern(p.parts, st, c);
      if (word === UNKNOWN || re === UNKNOWN) {
        if (re === UNKNOWN) why = this.#unknownWhy;
        match = UNKNOWN;
      } else if (re.test(word)) {
        match = true;
        break;
      }
    }
    if (match === true) return this.#exec(item.body, st, c);
    if (match === false) return this.#caseFrom(node, k + 1, word, wordWhy, st, c);
    return this.#fork(st, c, `the case "${node.word.text}" at line ${node.line} (${why})`, [
      { node: item.body, run: (s, cx) => this.#exec(item.body, s, cx) },
      { node: null, run: (s, cx) => this.#caseFrom(node, k + 1, word, wordWhy, s, cx) },
    ]);
  }

  #for(node: Extract<Node, { t: 'for' }>, st: State, c: Ctx): Status {
    let values: string[] | typeof UNKNOWN;
    if (node.words === null) values = st.positional === UNKNOWN || st.positional.includes(UNKNOWN) ? UNKNOWN : (st.positional as string[]);
    else {
      values = [];
      for (const w of node.words) {
        const f = this.#expandFields(w.parts, st, c);
        if (f === UNKNOWN) {
          values = UNKNOWN;
          break;
        }
        values.push(...f);
      }
    }
    const scope: Scope = {};
    if (values === UNKNOWN) {
      const why = `the words of the loop at line ${node.line} (${this.#unknownWhy})`;
      st.vars.set(node.name, UNKNOWN);
      this.#fork(st, c, why, [{ node: node.body, run: (s, cx) => this.#loopBody(node.body, s, { ...cx, loop: scope }) }, { node: null, run: () => 0 }]);
      st.vars.set(node.name, UNKNOWN);
      return UNKNOWN;
    }
    let status: Status = 0;
    for (const v of values) {
      st.vars.set(node.name, v);
      st.cleared.delete(node.name);
      const r = this.#iteration(node.body, st, { ...c, loop: scope });
      status = r.status;
      if (r.stop) break;
    }
    return status;
  }

  #loop(node: Extract<Node, { t: 'loop' }>, st: State, c: Ctx): Status {
    const first = this.#exec(node.cond, st, { ...c, cond: true });
    const runs = first === UNKNOWN ? UNKNOWN : (first === 0) !== node.until;
    if (runs === false) return 0;
    // However many times it runs: once, on a copy, is enough to see which commands it may run.
    const scope: Scope = {};
    const why = `how often the loop at line ${node.line} runs`;
    this.#fork(st, c, why, [{ node: node.body, run: (s, cx) => this.#loopBody(node.body, s, { ...cx, loop: scope }) }, { node: null, run: () => 0 }]);
    return UNKNOWN;
  }

  #loopBody(body: Node, st: State, c: Ctx): Status {
    return this.#iteration(body, st, c).status;
  }

  #iteration(body: Node, st: State, c: Ctx): { status: Status; stop: boolean } {
    try {
      return { status: this.#exec(body, st, c), stop: false };
    } catch (e) {
      if (!(e instanceof LoopSignal)) throw e;
      if (e.levels > 1) throw new LoopSignal(e.kind, e.levels - 1, e.line);
      return { status: 0, stop: e.kind === 'break' };
    }
  }

  #redirections(redirs: Redir[], st: State, c: Ctx): { writes: string[]; stdout: boolean } {
    const writes: string[] = [];
    let stdout = false;
    for (const r of redirs) {
      const fd = r.fd ?? (r.op.startsWith('<') ? 0 : 1);
      if (r.op === '<<' || r.op === '<<-' || r.op === '<' || r.op === '<&') continue;
      if (fd === 1) stdout = true;
      if (r.op === '>&') continue;
      const target = this.#expandSingle(r.target.parts, st, c);
      if (target === UNKNOWN) writes.push('?');
      else if (!['/dev/null', '/dev/stdout', '/dev/stderr'].includes(target)) writes.push(target);
    }
    return { writes, stdout };
  }

  #record(name: string, args: string[] | null, line: number, text: string, c: Ctx, writes: string[], handled: boolean): CommandRun {
    const why = this.#why(c);
    const run: CommandRun = { name, args, line, text, certain: why === undefined, writes, handled };
    if (why !== undefined) run.why = why;
    else if (args === null) run.why = this.#unknownWhy;
    this.commands.push(run);
    return run;
  }

  #simple(node: Extract<Node, { t: 'simple' }>, st: State, c: Ctx): Status {
    this.#lastSubst = 0;
    // Words first: a command's assignments do not affect its own arguments.
    let name: Value | undefined;
    let args: string[] | null = [];
    let argsWhy = '';
    for (const w of node.words) {
      const f = this.#expandFields(w.parts, st, c);
      if (f === UNKNOWN) {
        if (name === undefined) name = UNKNOWN;
        if (args !== null) argsWhy = this.#unknownWhy;
        args = null;
        continue;
      }
      for (const field of f) {
        if (name === undefined) name = field;
        else args?.push(field);
      }
    }
    const { writes, stdout } = this.#redirections(node.redirs, st, c);
    if (name === undefined) {
      for (const a of node.assigns) this.#assign(a.name, this.#expandSingle(a.value.parts, st, c), st);
      if (writes.length > 0) this.#record(':', [], node.line, node.text, c, writes, false);
      // An assignment's status is that of its last command substitution.
      st.status = this.#lastSubst;
      return st.status;
    }
    this.#unknownWhy = argsWhy;
    const cc: Ctx = stdout ? { ...c, out: null } : c;
    const status = this.#dispatch(name, args, node, st, cc, writes);
    st.status = status;
    return status;
  }

  #lastSubst: Status = 0;

  #assign(name: string, value: Value, st: State): void {
    st.vars.set(name, value);
    st.cleared.delete(name);
  }

  #unknownOut(c: Ctx, why: string): void {
    if (c.out && c.out.unknown === undefined) c.out.unknown = why;
  }

  #dispatch(name: Value, args: string[] | null, node: Extract<Node, { t: 'simple' }>, st: State, c: Ctx, writes: string[]): Status {
    const unknownStatus = (): Status => (c.cond || !st.errexit ? UNKNOWN : 0);
    if (name === UNKNOWN) {
      this.#record('?', null, node.line, node.text, c, writes, false);
      this.#unknownOut(c, `the output of "${node.text}"`);
      return unknownStatus();
    }
    const fn = st.funcs.get(name);
    if (fn) return this.#call(fn, name, args, node, st, c);
    const builtin = this.#builtin(name, args, node, st, c, writes);
    if (builtin !== undefined) return builtin;
    const run = this.#record(name, args, node.line, node.text, c, writes, false);
    const result = this.env.commands?.[name]?.(run);
    if (result === undefined) {
      this.#unknownOut(c, `the output of "${node.text}"`);
      return unknownStatus();
    }
    run.handled = true;
    if (c.out) {
      if (result.stdout === undefined) {
        /* writes nothing */
      } else if (result.stdout === UNKNOWN) this.#unknownOut(c, `the output of "${node.text}"`);
      else c.out.text += result.stdout;
    }
    if (result.status === UNKNOWN) return unknownStatus();
    return result.status;
  }

  #call(body: Node, name: string, args: string[] | null, node: Extract<Node, { t: 'simple' }>, st: State, c: Ctx): Status {
    if (++this.#depth > MAX_DEPTH) throw new ShellError(`expected function calls nested at most ${MAX_DEPTH} deep, found more calling ${name}`, node.line);
    const saved = st.positional;
    st.positional = args ?? UNKNOWN;
    try {
      return this.#exec(body, st, { ...c, fn: {}, loop: null });
    } catch (e) {
      if (e instanceof ReturnSignal) return e.code;
      throw e;
    } finally {
      st.positional = saved;
      this.#depth--;
    }
  }

  /** The shell's own commands; undefined for anything else. */
  #builtin(name: string, args: string[] | null, node: Extract<Node, { t: 'simple' }>, st: State, c: Ctx, writes: string[]): Status | undefined {
    const count = (fallback: Status): Status => {
      if (args === null) return UNKNOWN;
      if (args.length === 0) return fallback;
      return /^\d+$/.test(args[0]!) ? Number(args[0]) : UNKNOWN;
    };
    const wrote = () => {
      if (writes.length > 0) this.#record(name, args, node.line, node.text, c, writes, false);
    };
    switch (name) {
      case ':':
      case 'true':
        wrote();
        return 0;
      case 'false':
        return 1;
      case '[':
      case 'test': {
        if (args === null) return UNKNOWN;
        if (name === '[') {
          if (args.at(-1) !== ']') return UNKNOWN;
          return evalTest(args.slice(0, -1), this.env);
        }
        return evalTest(args, this.env);
      }
      case 'echo':
      case 'printf': {
        wrote();
        if (!c.out) return 0;
        const text = args === null ? UNKNOWN : name === 'echo' ? echoText(args) : printfText(args);
        if (text === UNKNOWN) this.#unknownOut(c, `the output of "${node.text}"`);
        else c.out.text += text;
        return 0;
      }
      case 'set': {
        if (args === null) return 0;
        for (let i = 0; i < args.length; i++) {
          const a = args[i]!;
          if (a === '--') {
            st.positional = args.slice(i + 1);
            break;
          }
          if (/^[-+][a-z]+$/.test(a) && a.includes('e')) st.errexit = a.startsWith('-');
          else if (a === '-o' || a === '+o') {
            if (args[i + 1] === 'errexit') st.errexit = a === '-o';
            i++;
          }
        }
        return 0;
      }
      case 'shift': {
        const n = count(1);
        if (st.positional !== UNKNOWN) st.positional = n === UNKNOWN ? UNKNOWN : st.positional.slice(n);
        return 0;
      }
      case 'unset': {
        if (args === null) return 0;
        const functions = args.includes('-f');
        for (const a of args.filter((x) => !x.startsWith('-'))) {
          if (functions) st.funcs.delete(a);
          else {
            st.vars.delete(a);
            st.cleared.add(a);
          }
        }
        return 0;
      }
      case 'export':
      case 'readonly':
      case 'local': {
        for (const w of node.words.slice(1)) {
          const f = this.#expandFields(w.parts, st, c);
          const m = /^([A-Za-z_][A-Za-z0-9_]*)(=|$)/.exec(w.text);
          if (f === UNKNOWN) {
            if (m) this.#assign(m[1]!, UNKNOWN, st);
            continue;
          }
          for (const field of f) {
            const eq = field.indexOf('=');
            if (eq > 0) this.#assign(field.slice(0, eq), field.slice(eq + 1), st);
            else if (name === 'local' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(field)) this.#assign(field, '', st);
          }
        }
        return 0;
      }
      case 'exit':
        throw new ExitSignal(count(st.status), node.line);
      case 'return':
        throw new ReturnSignal(count(st.status), node.line);
      case 'break':
      case 'continue': {
        const n = count(1);
        throw new LoopSignal(name, n === UNKNOWN ? 1 : n, node.line);
      }
      case 'read': {
        this.#record(name, args, node.line, node.text, c, writes, true);
        for (const a of args ?? []) if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(a)) this.#assign(a, UNKNOWN, st);
        return UNKNOWN;
      }
      default:
        return undefined;
    }
  }

  // --- expansion -------------------------------------------------------------------------------------------------

  #param(part: Extract<Part, { k: 'param' }>, st: State, c: Ctx): Value {
    const { name, op } = part;
    if (op === 'length') {
      const v = this.#lookup(name, st);
      return v === UNKNOWN ? UNKNOWN : String(v.length);
    }
    const value = this.#lookup(name, st);
    if (op === undefined) return value;
    const isSet = this.#isSet(name, st);
    const colon = op.startsWith(':');
    const kind = colon ? op.slice(1) : op;
    if (kind === '-' || kind === '=' || kind === '+' || kind === '?') {
      if (isSet === UNKNOWN || (colon && value === UNKNOWN)) return this.#unknown(`$${name}`);
      const useWord = kind === '+' ? isSet && !(colon && value === '') : !isSet || (colon && value === '');
      if (kind === '+') return useWord ? this.#expandSingle(part.arg ?? [], st, c) : '';
      if (!useWord) return value;
      if (kind === '?') throw new ExitSignal(1, 0);
      const w = this.#expandSingle(part.arg ?? [], st, c);
      if (kind === '=') this.#assign(name, w, st);
      return w;
    }
    // Pattern removal: # and ## from the front, % and %% from the back.
    if (value === UNKNOWN) return value;
    const re = this.#expandPattern(part.arg ?? [], st, c);
    if (re === UNKNOWN) return UNKNOWN;
    const longest = op === '##' || op === '%%';
    const lengths = [...Array(value.length + 1).keys()];
    if (longest) lengths.reverse();
    for (const n of lengths) {
      if (op.startsWith('#') && re.test(value.slice(0, n))) return value.slice(n);
      if (op.startsWith('%') && re.test(value.slice(value.length - n))) return value.slice(0, value.length - n);
    }
    return value;
  }

  #unknown(why: string): typeof UNKNOWN {
    this.#unknownWhy = why;
    return UNKNOWN;
  }

  #lookup(name: string, st: State): Value {
    if (st.vars.has(name)) {
      const v = st.vars.get(name)!;
      return v === UNKNOWN ? this.#unknown(`$${name}`) : v;
    }
    if (/^\d+$/.test(name)) {
      if (name === '0') return this.env.arg0 ?? this.#unknown('$0');
      if (st.positional === UNKNOWN) return this.#unknown(`$${name}`);
      const v = st.positional[Number(name) - 1] ?? '';
      return v === UNKNOWN ? this.#unknown(`$${name}`) : v;
    }
    if (name === '#') return st.positional === UNKNOWN ? this.#unknown('$#') : String(st.positional.length);
    if (name === '?') return st.status === UNKNOWN ? this.#unknown('$?') : String(st.status);
    if (name === '@' || name === '*') {
      if (st.positional === UNKNOWN || st.positional.includes(UNKNOWN)) return this.#unknown(`$${name}`);
      return st.positional.join(' ');
    }
    if (SPECIAL_PARAMS.has(name)) return this.#unknown(`$${name}`);
    if (st.cleared.has(name)) return '';
    if (/^[A-Z][A-Z0-9_]*$/.test(name)) return this.#unknown(`$${name} (from the environment dpkg runs the script in)`);
    return '';
  }

  #isSet(name: string, st: State): boolean | typeof UNKNOWN {
    if (st.vars.has(name)) return true;
    if (/^\d+$/.test(name)) return st.positional === UNKNOWN ? UNKNOWN : Number(name) <= st.positional.length;
    if (st.cleared.has(name)) return false;
    if (/^[A-Z][A-Z0-9_]*$/.test(name)) return UNKNOWN;
    return false;
  }

  #substitute(part: Extract<Part, { k: 'cmd' }>, st: State, c: Ctx): Value {
    const out = { text: '' } as { text: string; unknown?: string };
    const status = this.#subshell(part.body, st, { ...c, out });
    this.#lastSubst = status;
    if (out.unknown !== undefined) return this.#unknown(out.unknown);
    return out.text.replace(/\n+$/, '');
  }

  /** Expansion into fields, with field splitting on blanks; unknown (see #unknownWhy) when any part is. */
  #expandFields(parts: Part[], st: State, c: Ctx): string[] | typeof UNKNOWN {
    const fields: string[] = [];
    let cur = '';
    let has = false;
    const end = () => {
      if (has) fields.push(cur);
      cur = '';
      has = false;
    };
    const add = (text: string, split: boolean) => {
      if (!split) {
        cur += text;
        return;
      }
      const pieces = text.split(/[ \t\n]+/);
      pieces.forEach((piece, i) => {
        if (i > 0) end();
        cur += piece;
        if (piece !== '') has = true;
      });
    };
    for (const p of parts) {
      switch (p.k) {
        case 'lit':
          if (!p.q && /[*?]|\[.*\]/.test(p.v)) return this.#unknown(`the file names matching ${JSON.stringify(p.v)}`);
          cur += p.v;
          if (p.q || p.v !== '') has = true;
          break;
        case 'param': {
          if (p.name === '@' && p.q && p.op === undefined) {
            if (st.positional === UNKNOWN || st.positional.includes(UNKNOWN)) return this.#unknown('$@');
            const list = st.positional as string[];
            list.forEach((v, i) => {
              if (i > 0) end();
              cur += v;
              has = true;
            });
            break;
          }
          const v = this.#param(p, st, c);
          if (v === UNKNOWN) return UNKNOWN;
          if (p.q) has = true;
          add(v, !p.q);
          break;
        }
        case 'cmd': {
          const v = this.#substitute(p, st, c);
          if (v === UNKNOWN) return UNKNOWN;
          if (p.q) has = true;
          add(v, !p.q);
          break;
        }
        case 'arith':
          return this.#unknown(`the arithmetic $((${p.text}))`);
      }
    }
    end();
    return fields;
  }

  /** Expansion without field splitting or file names: assignments, `case` words, redirection targets. */
  #expandSingle(parts: Part[], st: State, c: Ctx): Value {
    let out = '';
    for (const p of parts) {
      const v = p.k === 'lit' ? p.v : p.k === 'param' ? this.#param(p, st, c) : p.k === 'cmd' ? this.#substitute(p, st, c) : this.#unknown(`the arithmetic $((${p.text}))`);
      if (v === UNKNOWN) return UNKNOWN;
      out += v;
    }
    return out;
  }

  /** A shell pattern (`case`, `${x#…}`) as a regular expression: quoted parts match literally. */
  #expandPattern(parts: Part[], st: State, c: Ctx): RegExp | typeof UNKNOWN {
    let re = '';
    for (const p of parts) {
      if (p.k === 'lit' && !p.q) re += globToRegExpSource(p.v);
      else {
        const v = p.k === 'lit' ? p.v : p.k === 'param' ? this.#param(p, st, c) : p.k === 'cmd' ? this.#substitute(p, st, c) : this.#unknown(`the arithmetic $((${p.text}))`);
        if (v === UNKNOWN) return UNKNOWN;
        re += p.q ? escapeRegExp(v) : globToRegExpSource(v);
      }
    }
    return new RegExp(`^${re}$`, 's');
  }
}

function cloneState(st: State): State {
  return {
    vars: new Map(st.vars),
    cleared: new Set(st.cleared),
    funcs: new Map(st.funcs),
    positional: st.positional === UNKNOWN ? UNKNOWN : [...st.positional],
    errexit: st.errexit,
    status: st.status,
  };
}

/** What two possible runs leave behind: what they agree on, and unknown where they differ. */
function mergeStates(a: State, b: State): State {
  const vars = new Map<string, Value>();
  const cleared = new Set<string>();
  for (const name of new Set([...a.vars.keys(), ...b.vars.keys(), ...a.cleared, ...b.cleared])) {
    const va = a.vars.has(name) ? a.vars.get(name)! : a.cleared.has(name) ? undefined : null;
    const vb = b.vars.has(name) ? b.vars.get(name)! : b.cleared.has(name) ? undefined : null;
    if (va !== vb) vars.set(name, UNKNOWN);
    else if (va === undefined) cleared.add(name);
    else if (va !== null) vars.set(name, va);
  }
  const funcs = new Map(a.funcs);
  for (const [k, v] of b.funcs) if (funcs.get(k) !== v) funcs.set(k, v);
  let positional: State['positional'] = UNKNOWN;
  if (a.positional !== UNKNOWN && b.positional !== UNKNOWN && a.positional.length === b.positional.length) {
    const bp = b.positional;
    positional = a.positional.map((v, i) => (v === bp[i] ? v : UNKNOWN));
  }
  return { vars, cleared, funcs, positional, errexit: a.errexit && b.errexit, status: a.status === b.status ? a.status : UNKNOWN };
}

function textOf(node: Node): string {
  switch (node.t) {
    case 'simple':
    case 'redirected':
      return node.text;
    case 'list':
      return node.items.map(textOf).join('; ');
    case 'andor':
      return [textOf(node.first), ...node.rest.map((r) => `${r.op} ${textOf(r.node)}`)].join(' ');
    case 'pipe':
      return (node.bang ? '! ' : '') + node.cmds.map(textOf).join(' | ');
    default:
      return node.t;
  }
}

/** A branch that ends the script with a failure whatever happens: `…; exit 1`. */
function alwaysFails(node: Node): boolean {
  switch (node.t) {
    case 'list':
      return node.items.some(alwaysFails);
    case 'group':
      return !node.subshell && alwaysFails(node.body);
    case 'redirected':
      return alwaysFails(node.node);
    case 'simple': {
      if (node.words.length !== 2 || node.words[0]!.text !== 'exit') return false;
      return /^[1-9]\d*$/.test(node.words[1]!.text);
    }
    default:
      return false;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function globToRegExpSource(glob: string): string {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else if (ch === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close === -1) {
        re += '\\[';
        continue;
      }
      let set = glob.slice(i + 1, close);
      if (set.startsWith('!')) set = '^' + set.slice(1);
      re += `[${set.replace(/\\/g, '\\\\')}]`;
      i = close;
    } else re += escapeRegExp(ch);
  }
  return re;
}

function echoText(args: string[]): Value {
  let rest = args;
  let newline = true;
  if (rest[0] === '-n') {
    newline = false;
    rest = rest.slice(1);
  }
  const text = rest.join(' ');
  // dash's echo interprets backslash escapes; pith does not guess at them.
  if (text.includes('\\')) return UNKNOWN;
  return text + (newline ? '\n' : '');
}

function printfText(args: string[]): Value {
  const [format, ...values] = args;
  if (format === undefined) return UNKNOWN;
  if (/%[^s%]/.test(format) || /\\[^n\\]/.test(format)) return UNKNOWN;
  const conversions = (format.match(/%s/g) ?? []).length;
  let i = 0;
  let out = '';
  do {
    out += format.replace(/%%|%s|\\n|\\\\/g, (m) => (m === '%%' ? '%' : m === '\\n' ? '\n' : m === '\\\\' ? '\\' : (values[i++] ?? '')));
  } while (conversions > 0 && i < values.length);
  return out;
}

const FILE_TESTS = new Set(['-e', '-f', '-d', '-h', '-L', '-x', '-r', '-w', '-s', '-p', '-b', '-c', '-S', '-g', '-u', '-k']);
const STRING_TESTS = new Set(['=', '==', '!=']);
const INT_TESTS = new Set(['-eq', '-ne', '-lt', '-le', '-gt', '-ge']);

/** `test` / `[ ]` as dash evaluates it; file tests ask the environment (the image tree). */
function evalTest(args: string[], env: ShellEnvironment): Status {
  let i = 0;
  const peek = (k = 0) => args[i + k];
  const primary = (): boolean | typeof UNKNOWN => {
    const a = peek();
    if (a === undefined) return UNKNOWN;
    if (a === '!' && i + 1 < args.length) {
      i++;
      const v = primary();
      return v === UNKNOWN ? UNKNOWN : !v;
    }
    if (a === '(' && args.indexOf(')', i) > i + 1) {
      i++;
      const v = or();
      if (peek() !== ')') return UNKNOWN;
      i++;
      return v;
    }
    const op = peek(1);
    if (op !== undefined && i + 2 < args.length && (STRING_TESTS.has(op) || INT_TESTS.has(op) || ['-nt', '-ot', '-ef', '<', '>'].includes(op))) {
      const b = peek(2)!;
      i += 3;
      if (STRING_TESTS.has(op)) return op === '!=' ? a !== b : a === b;
      if (INT_TESTS.has(op)) {
        if (!/^\s*-?\d+\s*$/.test(a) || !/^\s*-?\d+\s*$/.test(b)) return UNKNOWN;
        const x = Number(a);
        const y = Number(b);
        return op === '-eq' ? x === y : op === '-ne' ? x !== y : op === '-lt' ? x < y : op === '-le' ? x <= y : op === '-gt' ? x > y : x >= y;
      }
      return UNKNOWN;
    }
    if ((a === '-z' || a === '-n') && op !== undefined) {
      i += 2;
      return a === '-z' ? op === '' : op !== '';
    }
    if (FILE_TESTS.has(a) && op !== undefined) {
      i += 2;
      const v = env.test(a, op);
      return v === undefined ? UNKNOWN : v;
    }
    if (a === '-t' && op !== undefined) {
      i += 2;
      return UNKNOWN;
    }
    i++;
    return a !== '';
  };
  // -a and -o in three-valued logic: the value that decides alone (false for -a, true for -o) wins over unknown.
  const chain = (op: '-a' | '-o', operand: () => boolean | typeof UNKNOWN): boolean | typeof UNKNOWN => {
    const decides = op === '-o';
    let v = operand();
    while (peek() === op) {
      i++;
      const w = operand();
      v = v === decides || w === decides ? decides : v === UNKNOWN || w === UNKNOWN ? UNKNOWN : !decides;
    }
    return v;
  };
  const and = () => chain('-a', primary);
  const or = (): boolean | typeof UNKNOWN => chain('-o', and);
  if (args.length === 0) return 1;
  const v = or();
  if (i !== args.length) return UNKNOWN;
  return v === UNKNOWN ? UNKNOWN : v ? 0 : 1;
}

/** Reads a script as `sh` would run it in `env`; throws a ShellError for syntax pith cannot read. */
export function evaluateScript(text: string, env: ShellEnvironment): ScriptEvaluation {
  const interpreter = new Interpreter(env);
  interpreter.run(parse(text));
  return { commands: interpreter.commands };
}
