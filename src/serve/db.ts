/**
 * The two databases the fleet store runs on, behind one small interface so that the store has one set of SQL:
 * PGlite (PostgreSQL compiled to WebAssembly, in this process, data in a directory: nothing to install) and a
 * PostgreSQL server through `pg`. Both are loaded only when a store is opened, so no other command pays for them.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { processAlive } from '../cache/store.ts';
import { PithError } from '../errors.ts';

/** What the store's SQL needs: parameterised queries returning rows, and scripts (migrations). */
export interface Sql {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
  /** Several statements, no parameters. */
  exec(text: string): Promise<void>;
}

export interface Db extends Sql {
  readonly kind: 'pglite' | 'postgres';
  /** The directory or the URL without its password, for messages. */
  readonly location: string;
  /**
   * Runs `fn` in one transaction: committed if it returns, rolled back if it throws. A read-only one sees one
   * snapshot of the database throughout, so a reader never mixes two refreshes.
   */
  transaction<T>(fn: (tx: Sql) => Promise<T>, options?: { readOnly?: boolean }): Promise<T>;
  close(): Promise<void>;
}

const URL_RE = /^postgres(?:ql)?:\/\//i;

/** `postgres://…` or `postgresql://…` is a server; anything else with `://` is refused; the rest is a directory. */
export async function openDb(database: string): Promise<Db> {
  if (URL_RE.test(database)) return openPostgres(database);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(database)) {
    throw new PithError('SERVE_DATABASE_INVALID', `--database: expected a directory or a postgres:// (postgresql://) URL, found ${redact(database)}`);
  }
  return openPglite(resolve(database));
}

/** A URL as it may be shown: its password replaced. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

// ─── PGlite ──────────────────────────────────────────────────────────────────

async function openPglite(dir: string): Promise<Db> {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new PithError('SERVE_DATABASE_UNAVAILABLE', `the store directory ${dir} cannot be made: ${(e as Error).message}`, { cause: e });
  }
  // PGlite has no postmaster to keep a second process out, and two writers on one data directory corrupt it.
  const release = lockDirectory(dir);
  let pg;
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    pg = new PGlite(join(dir, 'pgdata'));
    await pg.waitReady;
  } catch (e) {
    release();
    throw new PithError('SERVE_DATABASE_UNAVAILABLE', `the PGlite store in ${dir} cannot be opened: ${(e as Error).message}`, { cause: e });
  }
  const db = pg;
  const wrap = (q: { query: typeof db.query; exec: typeof db.exec }): Sql => ({
    query: async <R>(text: string, params?: unknown[]) => (await q.query<R>(text, params)).rows,
    exec: async (text) => { await q.exec(text); },
  });
  return {
    kind: 'pglite',
    location: dir,
    ...wrap(db),
    // PGlite runs one transaction at a time and queues every other query behind it, so a reader waits for a
    // refresh to commit instead of seeing part of it.
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    close: async () => {
      try {
        await db.close();
      } finally {
        release();
      }
    },
  };
}

/**
 * Takes `DIR/lock` for this process (its pid inside), or fails naming the process that holds it. A lock left by a
 * process that is gone is taken over.
 */
function lockDirectory(dir: string): () => void {
  const file = join(dir, 'lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new PithError('SERVE_DATABASE_UNAVAILABLE', `the store lock ${file} cannot be written: ${(e as Error).message}`, { cause: e });
      }
      const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
        throw new PithError('SERVE_DATABASE_BUSY', `the store ${dir} is open in another process (pid ${pid}, in ${file}); a PGlite store has one process at a time: stop it, or use a PostgreSQL server`);
      }
      if (pid === process.pid) {
        throw new PithError('SERVE_DATABASE_BUSY', `the store ${dir} is already open in this process; close it first`);
      }
      // Left by a process that died: only a stale lock older than this check is removed.
      if (statSync(file).isFile()) rmSync(file, { force: true });
    }
  }
  throw new PithError('SERVE_DATABASE_BUSY', `the store lock ${file} keeps being taken by another process`);
}

// ─── PostgreSQL ──────────────────────────────────────────────────────────────

async function openPostgres(url: string): Promise<Db> {
  const { default: pg } = await import('pg');
  const location = redact(url);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // An idle client whose server went away emits this; the next query reports it where it matters.
  pool.on('error', () => {});
  const unavailable = (e: unknown) =>
    new PithError('SERVE_DATABASE_UNAVAILABLE', `the PostgreSQL server at ${location} cannot be used: ${(e as Error).message}`, { cause: e });
  try {
    await pool.query('SELECT 1');
  } catch (e) {
    await pool.end().catch(() => {});
    throw unavailable(e);
  }
  const wrap = (c: { query: (text: string, params?: unknown[]) => Promise<{ rows: unknown[] }> }): Sql => ({
    query: async <R>(text: string, params?: unknown[]) => (await c.query(text, params)).rows as R[],
    exec: async (text) => { await c.query(text); },
  });
  return {
    kind: 'postgres',
    location,
    ...wrap(pool),
    transaction: async (fn, options) => {
      let client;
      try {
        client = await pool.connect();
      } catch (e) {
        throw unavailable(e);
      }
      try {
        // REPEATABLE READ: every statement of a reader sees the same committed state, never half of a refresh.
        await client.query(options?.readOnly ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN');
        const result = await fn(wrap(client));
        await client.query('COMMIT');
        return result;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}
