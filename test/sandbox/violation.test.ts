/** How a plain failure of a sandboxed command is worded: its exit code and the last thing it said. */
import { describe, expect, it } from 'vitest';
import { classifyExit, type ExitFacts } from '../../src/sandbox/violation.js';

const facts = (exitCode: number, stderrTail: string): ExitFacts => ({
  exitCode,
  stoppedFor: null,
  wallSeconds: 1,
  peakTasks: 3,
  stderrTail,
  limits: { wallSeconds: 60, processes: 64, diskBytes: 1 << 30, fileBytes: 1 << 30, cpuSeconds: 600, memoryBytes: 1 << 30 },
  hiddenPaths: ['/data/hellaswag_val.jsonl'],
});

describe('a plain failure', () => {
  it('quotes the last non-empty stderr line after the exit code', () => {
    expect(classifyExit(facts(1, 'loading\noptibench: error: repo/bench.yaml: config file does not exist\n\n'))).toEqual({
      kind: 'exit',
      message: 'exited with code 1: "optibench: error: repo/bench.yaml: config file does not exist"',
    });
  });

  it('says only the code when the command printed nothing, and names a signal', () => {
    expect(classifyExit(facts(2, ''))).toEqual({ kind: 'exit', message: 'exited with code 2' });
    expect(classifyExit(facts(128 + 11, 'Segmentation fault'))).toEqual({ kind: 'crash', message: 'killed by SIGSEGV: "Segmentation fault"' });
  });

  it('says where a SIGKILL came from: the out-of-memory killer, or outside every limit, never a bare "killed by SIGKILL"', () => {
    expect(classifyExit({ ...facts(128 + 9, ''), oomKills: 1 })).toEqual({
      kind: 'memory',
      message: "out of memory: the kernel's out-of-memory killer killed it (the machine ran out of memory while it ran)",
    });
    expect(classifyExit({ ...facts(128 + 9, 'loading'), oomKills: 0 })).toEqual({
      kind: 'crash',
      message: 'killed by SIGKILL from outside the sandbox\'s limits (none of them stopped it; the kernel\'s out-of-memory killer did not act): "loading"',
    });
    // RLIMIT_CPU's hard limit: a process seen at (or within a sample of) its CPU limit.
    expect(classifyExit({ ...facts(128 + 9, ''), peakCpuSeconds: 599.6 })?.kind).toBe('cpu');
    expect(classifyExit({ ...facts(128 + 9, ''), peakCpuSeconds: 12 })?.kind).toBe('crash');
    // A stop of the sandbox's own is named as such, whatever signal it took.
    expect(classifyExit({ ...facts(128 + 9, ''), stoppedFor: 'timeout' })?.kind).toBe('timeout');
  });
});
