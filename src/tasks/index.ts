/** The tasks optibench can score, by the name configs use. */
import type { Task } from '../core/task.js';
import { hellaswagTask } from './hellaswag/index.js';

const TASKS: Record<string, Task> = {
  hellaswag: hellaswagTask as unknown as Task,
};

export function getTask(name: string): Task {
  const task = TASKS[name];
  if (!task) throw new Error(`unknown task "${name}"`);
  return task;
}
