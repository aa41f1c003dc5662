/** The interpreter the compression commands run: Debian's, which has torch, numpy and zstandard. */
import { existsSync } from 'node:fs';

/** Commander shows the default it resolved to; the help says why it is that one. */
export const PYTHON_OPTION_HELP = "python with torch, numpy and zstandard (Debian's /usr/bin/python3 when it exists, else python3 on PATH)";

export function defaultPython(): string {
  // A pyenv or venv python3 earlier on PATH usually lacks the Debian packages.
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}
