/** The solutions optibench ships (each a folder with optibench-solution.yaml, solution.py and codec.py). */
import path from 'node:path';
import { packageRoot } from '../../../core/paths.js';

export const SHIPPED_SOLUTIONS = ['baseline-zstd', 'template', 'reference-byte-planes'] as const;
export type ShippedSolution = (typeof SHIPPED_SOLUTIONS)[number];

/** The shipped solutions' folder: read from src/ by the built code too (package.json `files`). */
export function solutionsDir(): string {
  return path.join(packageRoot(), 'src', 'evaluators', 'compression', 'solutions');
}

export function shippedSolutionDir(name: ShippedSolution): string {
  return path.join(solutionsDir(), name);
}
