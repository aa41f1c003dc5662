/**
 * `optibench sut check | bench | init`: a team's path to a system under test. `check` runs the organizer's
 * harness against a SUT on this machine (no sandbox: a team's own code on its own laptop); `bench` compares a
 * config served as a SUT with the same config run in process; `init` writes the Python SUT template.
 */
import { ensureWritableDir } from '../../../core/output-dir.js';
import { cp, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { EXIT } from '../../../core/cli/exit-codes.js';
import { nonNegativeInteger, positiveInteger } from '../../../core/cli/options.js';
import { displayPath } from '../../../core/cli/terminal.js';
import { OptibenchError } from '../../../core/errors.js';
import { defaultCacheDir, packageRoot } from '../../../core/paths.js';
import { median } from '../../../core/timing.js';
import { writeResultFile } from '../../../core/result-file.js';
import { formatPercentStderr } from '../../../report/filters.js';
import { loadConfig } from '../config.js';
import { defaultDatasetPath, ensureDefaultModel } from '../embedded-default.js';
import { selectItems } from '../rerun/items.js';
import type { InferenceResult } from '../results.js';
import { runEvaluation } from '../runner.js';
import { serveCommand } from '../sut/local.js';
import { measureLocalSut, type LocalOutcome } from '../sut/measure-local.js';
import { planForSut } from '../sut/prepare.js';
import { SESSION_DEFAULTS } from '../sut/session.js';
import { addProgressFlags, ProgressBar, wantsProgress, type ProgressFlags } from '../../../core/cli/progress.js';

const TEMPLATE_DIR = 'src/evaluators/inference/sut/python-template';

interface CommonFlags extends ProgressFlags {
  model?: string;
  dataset?: string;
  limit: number;
  seed: number;
  passes: number;
  warmupItems: number;
  cacheDir?: string;
}

function addCommonOptions(command: Command, limit: number): Command {
  command
    .option('-m, --model <dir>', 'the model the SUT is asked about, a Hugging Face LLaMA directory (default: the embedded tiny model)')
    .option('--dataset <file>', 'the labelled HellaSwag file (default: the embedded tiny set)')
    .option('--limit <n>', 'how many items (a deterministic subset)', positiveInteger, limit)
    .option('--seed <n>', 'seed of the subset', nonNegativeInteger, 1234)
    .option('--passes <n>', 'measured passes (2 or more checks re-issued requests)', positiveInteger, SESSION_DEFAULTS.passes)
    .option('--warmup-items <n>', "documents' worth of random-token warm-up requests", nonNegativeInteger, 8)
    .option('--cache-dir <dir>', 'where the embedded model is generated and a SUT may cache what it builds (default: the user cache)');
  return addProgressFlags(command);
}

async function common(flags: CommonFlags) {
  const cacheDir = await ensureWritableDir(flags.cacheDir ?? defaultCacheDir(), '--cache-dir');
  const modelDir = path.resolve(flags.model ?? (await ensureDefaultModel(cacheDir, (m) => process.stderr.write(`optibench: ${m}\n`))));
  const items = await selectItems(path.resolve(flags.dataset ?? defaultDatasetPath()), flags.limit, flags.seed);
  const bar = new ProgressBar(wantsProgress(flags), 'requests');
  const session = {
    passes: flags.passes,
    warmupItems: flags.warmupItems,
    onPhase: (m: string) => bar.log(`optibench: ${m}`),
    onProgress: (done: number, total: number, pass: number) => bar.update(done, total, `pass ${pass}`),
  };
  return { cacheDir, modelDir, items, session, bar };
}

function summary(results: InferenceResult): string[] {
  const sut = results.payload.sut!;
  const t = results.timings;
  const lines = [`SUT "${sut.name}" (${sut.form}): ${results.payload.task.dataset.selectedDocs} items, ${results.payload.throughput.requests} requests, timed by the harness`];
  lines.push(`  load       ${(t.loadMs / 1000).toFixed(2)} s; warm-up ${(t.warmupMs / 1000).toFixed(2)} s (${sut.warmupRequests} requests)`);
  lines.push(`  passes     ${t.inference.repeats.map((ms) => `${ms.toFixed(1)} ms`).join(', ')} (pass 1 is what a re-run ranks)`);
  for (const [name, m] of Object.entries(results.metrics)) lines.push(`  ${name.padEnd(10)} ${formatPercentStderr(m.value, m.stderr)} %`);
  lines.push(`  agreement  later passes within ${sut.agreement.maxAbsDiff.toExponential(2)} nats of pass 1, ${sut.agreement.maxPerToken.toExponential(2)} per token (allowed ${sut.agreement.tolerance} per token)`);
  if (sut.reissue.ratio !== null) lines.push(`  re-issue   fastest later pass / pass 1 = ${sut.reissue.ratio.toFixed(3)} (at least ${(1 - sut.reissue.tolerance).toFixed(2)} unless within ${sut.reissue.floorMs / 1000} s)`);
  if (sut.harnessShare !== null) lines.push(`  harness    ${(sut.harnessShare * 100).toFixed(3)} % of each pass (writing requests, reading answers)`);
  return lines;
}

function registerCheck(sut: Command): void {
  addCommonOptions(
    sut
      .command('check')
      .description("Run the organizer's harness against a system under test on this machine, without a sandbox: hello, load, warm-up, measured passes, the checks a re-run makes, and the accuracy")
      .argument('[command...]', 'the SUT to start, after -- (e.g. -- python3 sut/sut.py); or give -c')
      .option('-c, --config <file>', 'check optibench serve on this config instead of a command')
      .option('-o, --output <dir>', 'also write the results there (results.json)')
      .option('--verbose', "show the SUT's stderr as it runs")
      .addHelpText('after', '\nExamples:\n  optibench sut check -- python3 sut/sut.py\n  optibench sut check -c bench.yaml --limit 100 --passes 3\n'),
    40,
  ).action(async (command: string[], flags: CommonFlags & { config?: string; output?: string; verbose?: boolean }) => {
    if ((command.length === 0) === (flags.config === undefined)) throw new OptibenchError('give the SUT to check: a command after -- , or -c <config>', { key: 'command' });
    if (flags.output) await ensureWritableDir(flags.output, '--output');
    const { cacheDir, modelDir, items, session, bar } = await common(flags);
    const outcome: LocalOutcome = await measureLocalSut({
      command: flags.config ? serveCommand(path.resolve(flags.config)) : command,
      items,
      limit: flags.limit,
      seed: flags.seed,
      modelDir,
      cacheDir,
      form: flags.config ? 'config' : 'command',
      session,
      echoStderr: flags.verbose ?? false,
    });
    bar.stop();
    if (!outcome.ok) {
      const tail = outcome.stderrTail.trim().split('\n').slice(-10).join('\n');
      process.stderr.write(`optibench: error: the SUT failed the check: ${outcome.error}\n${tail ? `--- its last stderr lines\n${tail}\n` : ''}`);
      process.exitCode = EXIT.runFailed;
      return;
    }
    if (flags.output) process.stderr.write(`optibench: wrote ${displayPath(await writeResultFile(outcome.results, path.resolve(flags.output)))}\n`);
    process.stdout.write(`${summary(outcome.results).join('\n')}\n`);
  });
}

function registerBench(sut: Command): void {
  addCommonOptions(
    sut
      .command('bench')
      .description('Measure what the SUT protocol costs: the same config run in process, served as a SUT, and served without a model (the protocol alone), on the same items')
      .requiredOption('-c, --config <file>', 'the optibench config')
      .option('--rounds <n>', 'measure in process and served this many times, alternating (a shared machine drifts: each round gives its own ratio)', positiveInteger, 1)
      .option('--json', 'print the figures as JSON'),
    100,
  ).action(async (flags: CommonFlags & { config: string; json?: boolean; rounds: number }) => {
    const { cacheDir, modelDir, items, session, bar } = await common(flags);
    const configFile = path.resolve(flags.config);
    const plan = await planForSut(items.docs, modelDir);
    const served = (extra: string[]) =>
      measureLocalSut({ command: serveCommand(configFile, extra), items, limit: flags.limit, seed: flags.seed, modelDir, cacheDir, form: 'config', session, plan });
    const { config } = await loadConfig(configFile, { model: modelDir, dataset: items.datasetPath, limit: flags.limit, seed: flags.seed, repeats: flags.passes, cacheDir });
    const rounds: { inProcessMs: number; servedMs: number; harnessShare: number | null; sameMetrics: boolean }[] = [];
    for (let round = 1; round <= flags.rounds; round++) {
      process.stderr.write(`optibench: round ${round} of ${flags.rounds}: the config in process\n`);
      const inProcess = await runEvaluation(config, {
        phase: (_p, m) => bar.log(`optibench: [in process] ${m}`),
        progress: (done, total, repeat, repeats) => bar.update(done, total, `in process, repeat ${repeat + 1}/${repeats}`),
      });
      process.stderr.write(`optibench: round ${round} of ${flags.rounds}: the config served as a SUT\n`);
      const sutRun = await served([]);
      if (!sutRun.ok) throw new OptibenchError(`the served SUT failed: ${sutRun.error}`);
      rounds.push({
        inProcessMs: inProcess.timings.inference.medianMs!,
        servedMs: median(sutRun.results.timings.inference.repeats),
        harnessShare: sutRun.results.payload.sut!.harnessShare,
        sameMetrics: JSON.stringify(inProcess.metrics) === JSON.stringify(sutRun.results.metrics),
      });
    }
    process.stderr.write('optibench: [no model] the protocol alone\n');
    const empty = await served(['--no-model']);
    if (!empty.ok) throw new OptibenchError(`the no-model SUT failed: ${empty.error}`);
    const emptyMs = median(empty.results.timings.inference.repeats);
    const servedMs = median(rounds.map((r) => r.servedMs));
    const inProcessMs = median(rounds.map((r) => r.inProcessMs));
    const figures = {
      items: items.docs.length,
      requests: plan.plan.requests.length,
      passes: flags.passes,
      rounds: rounds.map((r) => ({ ...r, servedOverInProcess: r.servedMs / r.inProcessMs })),
      inProcessMedianMs: inProcessMs,
      servedMedianMs: servedMs,
      noModelMedianMs: emptyMs,
      servedOverInProcess: median(rounds.map((r) => r.servedMs / r.inProcessMs)),
      protocolShareOfServed: emptyMs / servedMs,
      harnessShareOfServed: median(rounds.map((r) => r.harnessShare ?? 0)),
      sameMetrics: rounds.every((r) => r.sameMetrics),
    };
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
      return;
    }
    process.stdout.write(
      [
        `optibench sut bench: ${figures.items} items (${figures.requests} requests), ${figures.passes} measured passes each, median pass; ${flags.rounds} round${flags.rounds > 1 ? 's' : ''}`,
        ...figures.rounds.map((r, i) => `  round ${i + 1}               in process ${r.inProcessMs.toFixed(1)} ms, served ${r.servedMs.toFixed(1)} ms: ${r.servedOverInProcess.toFixed(3)}x`),
        `  in process            ${inProcessMs.toFixed(1)} ms`,
        `  served as a SUT       ${servedMs.toFixed(1)} ms  (median ratio ${figures.servedOverInProcess.toFixed(3)}x the in-process time)`,
        `  protocol alone        ${emptyMs.toFixed(1)} ms  (${(figures.protocolShareOfServed * 100).toFixed(2)} % of the served time: a SUT that answers without a model)`,
        `  harness's own share   ${((figures.harnessShareOfServed ?? 0) * 100).toFixed(3)} % of the served time`,
        `  same metrics          ${figures.sameMetrics ? 'yes' : 'NO'}`,
      ].join('\n') + '\n',
    );
  });
}

function registerInit(sut: Command): void {
  sut
    .command('init')
    .description('Write the Python SUT template (PyTorch, a LLaMA read from safetensors) into a folder of your repository')
    .argument('<dir>', 'where to write it (must be empty or missing)')
    .action(async (dir: string) => {
      const target = await ensureWritableDir(dir, '<dir>');
      if ((await readdir(target)).length > 0) throw new OptibenchError(`${displayPath(target)} is not empty: the template goes into an empty folder`, { file: target });
      await cp(path.join(packageRoot(), TEMPLATE_DIR), target, { recursive: true });
      const relative = path.relative(process.cwd(), path.join(target, 'sut.py')) || 'sut.py';
      await writeFile(path.join(target, '.gitignore'), '__pycache__/\n');
      process.stdout.write(
        [
          `wrote the Python SUT template to ${displayPath(target)}`,
          'next:',
          `  optibench sut check -- python3 ${relative}          # the organizer's harness against it, on this machine`,
          `  in optibench-submission.yaml:  run: { command: [python3, ${relative}] }`,
        ].join('\n') + '\n',
      );
    });
}

export function registerSut(program: Command): void {
  const sut = program.command('sut').description('Systems under test: check one against the harness, measure the protocol, start from the Python template');
  registerCheck(sut);
  registerBench(sut);
  registerInit(sut);
}
