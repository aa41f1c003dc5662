/** Exit codes, documented in the README so scripts can tell failures apart. */
export const EXIT = {
  ok: 0,
  /** Bad input: a missing file, an invalid config, an unknown plugin... nothing was run. */
  badInput: 1,
  /** Command-line usage error. */
  usage: 2,
  /** The run started but failed part-way; what was computed is saved as results.incomplete.json. */
  runFailed: 3,
  /** A check the command makes failed (e.g. rescore found stored metrics that do not match). */
  checkFailed: 4,
  /** The accuracy gate failed: the candidate lost more of the metric than allowed (optibench compare). */
  gateFailed: 5,
  /** Whoever read stdout closed it early (`optibench help run | head -3`): 128 + SIGPIPE, as a shell tool killed by it. */
  stdoutClosed: 141,
  /** A bug in optibench. */
  internal: 70,
} as const;
