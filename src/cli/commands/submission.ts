/** `optibench submission check <dir>`: is this submission's manifest valid, and do the files it names exist? */
import path from 'node:path';
import type { Command } from 'commander';
import { checkSubmission, formatProblem } from '../../submissions/check.js';
import { EXIT } from '../../core/cli/exit-codes.js';
import type { AnyEvaluator } from '../../core/evaluator.js';
import { checkPluginsResolve } from '../../core/plugin-loader.js';
import { positiveNumber } from '../../core/cli/options.js';
import { bubblewrap, canSandbox } from '../../sandbox/sandbox.js';

/** Submission manifests name a config of the competition's default evaluator (the inference challenge). */
export function registerSubmission(program: Command, evaluator: AnyEvaluator): void {
  const submission = program.command('submission').description('Submission manifests (optibench-submission.yaml)');
  submission
    .command('check')
    .description('Validate a submission folder: its manifest, the document and the config it names; every problem is listed')
    .argument('[dir]', 'the submission (repository root)', '.')
    .option('--no-start', 'do not start the submission to see it answer (by default it is started, in the sandbox when optibench runs as root with bubblewrap)')
    .option('--hello-seconds <n>', 'how long the started submission has to say hello', positiveNumber, 60)
    .action(async (dir: string, flags: { start: boolean; helloSeconds: number }) => {
      const check = await checkSubmission(dir, async (file, root) => {
        const config = await evaluator.config.load(file, root);
        checkPluginsResolve(evaluator.config.plugins(config).entries, root);
      });
      if (check.problems.length > 0) {
        for (const problem of check.problems) process.stderr.write(`optibench: error: ${formatProblem(problem)}\n`);
        process.stderr.write(`optibench: ${check.problems.length} problem${check.problems.length > 1 ? 's' : ''} in ${path.resolve(dir)}\n`);
        process.exitCode = EXIT.badInput;
        return;
      }
      const m = check.manifest!;
      let answered = 'not started (--no-start)';
      if (flags.start && evaluator.probeSubmission) {
        const probe = await evaluator.probeSubmission(m.run, path.resolve(dir), { programs: canSandbox() ? bubblewrap : undefined, seconds: flags.helloSeconds });
        if (!probe.ok) {
          process.stderr.write(`optibench: error: ${check.file}: run: the submission does not answer: ${probe.message}\n`);
          process.exitCode = EXIT.badInput;
          return;
        }
        answered = probe.message;
      }
      const what = 'config' in m.run ? `optibench config ${m.run.config}` : `command ${JSON.stringify(m.run.command)}`;
      process.stdout.write(
        [
          `${check.file}: valid submission`,
          `  team       ${m.team} (its name and members are in the organizer's registration)`,
          `  round      ${m.round}`,
          `  commit     ${m.repository.commit} of ${m.repository.url}`,
          `  document   ${m.document}`,
          `  runs       ${what}`,
          `  answers    ${answered}`,
        ].join('\n') + '\n',
      );
    });
}
