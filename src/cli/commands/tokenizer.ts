/** `optibench tokenizer convert|bench`: SentencePiece models as tokenizer.json, and how fast they encode. */
import { ensureWritableFileDir } from '../../core/output-dir.js';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Command } from 'commander';
import { selectSubset } from '../../core/subset.js';
import { hellaswagTask } from '../../tasks/hellaswag/index.js';
import { benchTokenizer } from '../../tokenizers/bench.js';
import { sentencePieceToTokenizerJson } from '../../tokenizers/sentencepiece-convert.js';
import { readSentencePieceModel } from '../../tokenizers/sentencepiece-model.js';
import { positiveInteger } from '../../core/cli/options.js';
import { addProgressFlags, ProgressBar, wantsProgress, type ProgressFlags } from '../../core/cli/progress.js';

const DEBIAN_PYTHON = '/usr/bin/python3';

export function registerTokenizer(program: Command): void {
  const tokenizer = program.command('tokenizer').description('SentencePiece tokenizer.model tools');

  tokenizer
    .command('convert')
    .description('Convert a SentencePiece tokenizer.model (LLaMA) into an equivalent tokenizer.json (+ tokenizer_config.json)')
    .argument('<model>', 'the SentencePiece tokenizer.model')
    .requiredOption('-o, --output <file>', 'where to write tokenizer.json; tokenizer_config.json is written beside it')
    .action(async (model: string, flags: { output: string }) => {
      await ensureWritableFileDir(flags.output, '--output');
      const started = performance.now();
      const converted = sentencePieceToTokenizerJson(await readSentencePieceModel(model), model);
      await mkdir(path.dirname(path.resolve(flags.output)), { recursive: true });
      await writeFile(flags.output, `${JSON.stringify(converted.tokenizerJson, null, 2)}\n`);
      const configFile = path.join(path.dirname(flags.output), 'tokenizer_config.json');
      await writeFile(configFile, `${JSON.stringify(converted.tokenizerConfig, null, 2)}\n`);
      process.stdout.write(
        `wrote ${flags.output} and ${configFile}: ${converted.stats.pieces} pieces, ${converted.stats.merges} merges ` +
          `(${Math.round(performance.now() - started)} ms)\n`,
      );
    });

  const bench = tokenizer
    .command('bench')
    .description("Encode every HellaSwag context, ' ' + ending and joined string with optibench and with Python's sentencepiece: ids compared, tokens/s of both")
    .requiredOption('-t, --tokenizer <model>', 'the SentencePiece tokenizer.model')
    .requiredOption('-d, --dataset <file>', 'HellaSwag (jsonl or the 6-line text form, .bz2 read transparently)')
    .option('-n, --limit <n>', 'only a deterministic subset of n items (default: every item)', positiveInteger)
    .option('-r, --repeats <n>', 'timed passes; medians are reported', positiveInteger, 3)
    .option('--python <exe>', "Python with sentencepiece installed (the reference)", existsSync(DEBIAN_PYTHON) ? DEBIAN_PYTHON : 'python3')
    .option('--no-reference', 'time optibench alone')
    .option('--json <file>', 'also write the figures as JSON');
  addProgressFlags(bench).action(
    async (flags: ProgressFlags & { tokenizer: string; dataset: string; limit?: number; repeats: number; python: string; reference: boolean; json?: string }) => {
      if (flags.json) await ensureWritableFileDir(flags.json, '--json');
      const docs = selectSubset(await hellaswagTask.load(flags.dataset), flags.limit, 1234);
      const strings: string[] = [];
      for (const doc of docs) {
        strings.push(doc.query);
        for (const choice of doc.choices) strings.push(` ${choice}`, `${doc.query} ${choice}`);
      }
      const bar = new ProgressBar(wantsProgress(flags), 'strings');
      const result = await benchTokenizer(flags.tokenizer, strings, {
        repeats: flags.repeats,
        python: flags.reference ? flags.python : null,
        onProgress: (m) => bar.log(`optibench: ${m}`),
        onEncoded: (done, total, repeat) => bar.update(done, total, `repeat ${repeat + 1}/${flags.repeats}: optibench`),
      });
      const rate = (n: number) => `${Math.round(n).toLocaleString('en-US')} tokens/s`;
      const lines = [
        `tokenizer bench: ${flags.tokenizer} on ${docs.length} HellaSwag items (${result.strings} strings: contexts, " " + endings, joined), median of ${result.repeats}`,
        `  tokens                  ${result.tokens.toLocaleString('en-US')}`,
        `  conversion              ${result.conversionMs.toFixed(0)} ms (read tokenizer.model, convert, build)`,
        `  optibench               ${(result.optibench.medianMs / 1000).toFixed(2)} s  ${rate(result.optibench.tokensPerSecond)}`,
      ];
      if (result.sentencepiece) {
        lines.push(
          `  sentencepiece ${result.sentencepiece.version.padEnd(9)} ${(result.sentencepiece.medianMs / 1000).toFixed(2)} s  ${rate(result.sentencepiece.tokensPerSecond)}`,
          `  optibench / sentencepiece throughput  ${(result.optibench.tokensPerSecond / result.sentencepiece.tokensPerSecond).toFixed(2)}x`,
          `  identical ids           ${result.equal.toLocaleString('en-US')} of ${result.strings.toLocaleString('en-US')} strings`,
        );
      }
      process.stdout.write(`${lines.join('\n')}\n`);
      if (flags.json) await writeFile(flags.json, `${JSON.stringify({ tokenizer: flags.tokenizer, dataset: flags.dataset, items: docs.length, ...result }, null, 2)}\n`);
      if (result.sentencepiece && result.equal !== result.strings) process.exitCode = 4;
    },
  );
}
