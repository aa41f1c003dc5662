/**
 * Errors a user can act on. The CLI prints `message` as one line and exits non-zero; anything that is not
 * an OptibenchError is a bug and is printed with its stack.
 */
export class OptibenchError extends Error {
  /** Where the bad input is: a file, optionally with a line (1-based) and a key path inside it. */
  readonly location: { file?: string; line?: number; key?: string } | undefined;

  constructor(message: string, location?: { file?: string; line?: number; key?: string }, options?: ErrorOptions) {
    super(message, options);
    this.name = 'OptibenchError';
    this.location = location;
  }

  /** `file:line: key: message`, with whatever parts are known. */
  oneLine(): string {
    const where: string[] = [];
    if (this.location?.file) where.push(this.location.line ? `${this.location.file}:${this.location.line}` : this.location.file);
    if (this.location?.key) where.push(this.location.key);
    return [...where, this.message.replace(/\s*\n\s*/g, ' ')].join(': ');
  }
}

export function isOptibenchError(error: unknown): error is OptibenchError {
  return error instanceof OptibenchError;
}
