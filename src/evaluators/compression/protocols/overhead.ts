/**
 * The evaluator's own share of a timed call: the same sandbox, limits, pinning and teardown around a program
 * that does nothing (`/bin/true`). A cli call's time is this plus the solution's own start and work; the
 * report shows it beside the task time so a reader sees what the evaluator adds to every call. For http calls
 * the loopback transfer through optibench's driver comes on top and is not in this figure.
 */
import { median } from '../../../core/timing.js';
import { callRequest, withWorkDir, type CallContext } from './call.js';

export async function nullCallSeconds(context: CallContext, repeats = 3): Promise<number | null> {
  const seconds: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const outcome = await withWorkDir(context.scratch, 'compress', (dir) => context.run.run({ ...callRequest(context, dir, ['/bin/true'], 1024 * 1024), cwd: dir, inputs: [] }));
    if (outcome.ok) seconds.push(outcome.wallSeconds);
  }
  return seconds.length ? median(seconds) : null;
}
