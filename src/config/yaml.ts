/**
 * Reading a YAML file against a zod schema with every error at its `file:line:column`: pith.yaml and
 * pith-serve.yaml are both read here, so a typo in either is reported the same way (the place, the key, what was
 * expected and found, and a "did you mean" for an unknown key).
 */
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { PithError, type ErrorCode } from '../errors.ts';
import { closestNames } from '../order.ts';

export interface YamlFile<T> {
  value: T;
  /** `file:line:column` of the value at a path (`['files', 2, 'from']`), or of its closest ancestor. */
  at: (path: ReadonlyArray<string | number>) => string;
}

/**
 * `codes`: the error for text that is not YAML, and for YAML the schema refuses. `prepare` adjusts the parsed
 * document before it is checked (pith.yaml reads `mode: 755` as octal).
 */
export function parseYamlWithSchema<S extends z.ZodType>(
  text: string,
  file: string,
  schema: S,
  codes: { syntax: ErrorCode; invalid: ErrorCode },
  prepare?: (root: unknown, text: string) => void,
): YamlFile<z.infer<S>> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    // yaml reports an unclosed flow collection where it gave up (the next line); the `[` or `{` is the place to fix.
    const unclosed = /flow (sequence|map|collection)/i.test(err.message) ? unclosedFlowStart(text, err.pos[0]) : undefined;
    if (unclosed !== undefined) err.pos[0] = unclosed;
    throw new PithError(codes.syntax, `${at(err.pos[0])}: invalid YAML: ${err.message.split('\n')[0]}`);
  }
  prepare?.(doc.contents, text);
  const value: unknown = doc.toJS();
  const result = schema.safeParse(value);
  if (result.success) {
    return { value: result.data, at: (path) => { const node = nodeAt(doc.contents, [...path]); return node?.range ? at(node.range[0]) : `${file}:1:1`; } };
  }
  const messages = result.error.issues.map((issue) => {
    const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    const node = nodeAt(doc.contents, path, issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined);
    const pos = node?.range ? at(node.range[0]) : `${file}:1:1`;
    const field = path.length ? path.join('.') : '(top level)';
    if (issue.code === 'unrecognized_keys') {
      const known = keysAt(schema, path);
      const close = closestNames(issue.keys[0]!, known, 3);
      return `${pos}: unknown key "${issue.keys.join('", "')}" in ${field}` + (close.length > 0 ? `; did you mean "${close.join('", "')}"?` : '');
    }
    const found = valueAt(value, path);
    if (found === undefined) return `${pos}: missing required key "${field}"`;
    const expected =
      issue.code === 'invalid_type' ? `expected ${issue.expected}` : issue.code === 'invalid_format' ? `expected ${issue.message}` : issue.message;
    return `${pos}: ${field}: ${expected}, found ${JSON.stringify(found)}`;
  });
  throw new PithError(codes.invalid, messages.join('\n'));
}

function valueAt(value: unknown, path: (string | number)[]): unknown {
  let v = value;
  for (const part of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[part];
  }
  return v;
}

/** The YAML node at a zod issue path (or its closest existing ancestor); `key` selects a map key node. */
function nodeAt(root: unknown, path: (string | number)[], key?: string): YamlNode | undefined {
  let node = root as YamlNode | undefined;
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown })?.value === part);
      if (!pair) break;
      node = (pair.value ?? pair.key) as YamlNode;
    } else if (isSeq(node) && typeof part === 'number' && node.items[part]) {
      node = node.items[part] as YamlNode;
    } else break;
  }
  if (key !== undefined && isMap(node)) {
    const pair = node.items.find((p) => (p.key as { value?: unknown })?.value === key);
    if (pair) return pair.key as YamlNode;
  }
  return node;
}

/** The keys an object of the schema at `path` allows (empty when there is no object there). */
function keysAt(schema: z.ZodType, path: (string | number)[]): string[] {
  let s: z.ZodType | undefined = schema;
  const unwrap = (t: z.ZodType): z.ZodType => (t instanceof z.ZodOptional || t instanceof z.ZodNullable || t instanceof z.ZodDefault ? unwrap(t.unwrap() as z.ZodType) : t);
  for (const part of path) {
    if (s === undefined) return [];
    s = unwrap(s);
    if (s instanceof z.ZodArray) s = s.element as z.ZodType;
    else if (s instanceof z.ZodObject) s = (s.shape as Record<string, z.ZodType>)[String(part)];
    else if (s instanceof z.ZodUnion) s = (s.options as z.ZodType[]).map(unwrap).find((o) => o instanceof z.ZodObject);
    else return [];
  }
  if (s === undefined) return [];
  s = unwrap(s);
  if (s instanceof z.ZodUnion) s = (s.options as z.ZodType[]).map(unwrap).find((o) => o instanceof z.ZodObject);
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

/** Offset of the last `[` or `{` before `offset` that no bracket closes, outside quotes and comments. */
function unclosedFlowStart(text: string, offset: number): number | undefined {
  const open: number[] = [];
  let quote: string | undefined;
  for (let i = 0; i < Math.min(offset, text.length); i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '[' || c === '{') open.push(i);
    else if (c === ']' || c === '}') open.pop();
  }
  return open.at(-1);
}
