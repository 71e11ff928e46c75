/**
 * Every error pith reports to a user is a PithError: a stable machine-readable `code`, a message that says what
 * was expected, what was found and where (file:line, package, URL), and optional structured `details`.
 * The CLI prints the message without a stack trace and maps the code to an exit status.
 */
export class PithError extends Error {
  readonly code: string;
  readonly details?: Record<string, unknown>;

  constructor(code: string, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PithError';
    this.code = code;
    this.details = options?.details;
  }
}

export function isPithError(e: unknown, code?: string): e is PithError {
  return e instanceof PithError && (code === undefined || e.code === code);
}
