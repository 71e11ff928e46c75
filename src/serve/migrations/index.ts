import init from './001_init.ts';

/** Every schema migration, in order; `version` is what `schema_migrations` records. Append only. */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  { version: 1, name: 'init', sql: init },
];
