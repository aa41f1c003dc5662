/** The nunjucks environment every HTML page of optibench is rendered with: templates under reports/templates. */
import path from 'node:path';
import nunjucks from 'nunjucks';
import { packageRoot } from '../core/paths.js';
import { registerFilters } from './filters.js';

/** A new environment with the shared filters; callers cache it and may add filters of their own. */
export function createReportEnvironment(): nunjucks.Environment {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(path.join(packageRoot(), 'reports', 'templates')), {
    autoescape: true,
    // A misspelt field must fail the render, not silently print an empty cell in a published report.
    throwOnUndefined: true,
  });
  registerFilters(env);
  return env;
}
