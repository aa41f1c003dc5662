/** The interpreter the compression commands run: Debian's, which has torch, numpy and zstandard. */
import { existsSync } from 'node:fs';

export const PYTHON_OPTION_HELP = "python with torch, numpy and zstandard (default: /usr/bin/python3, Debian's, when it exists)";

export function defaultPython(): string {
  // A pyenv or venv python3 earlier on PATH usually lacks the Debian packages.
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}
