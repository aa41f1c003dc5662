/**
 * Progress on stderr, the same on every long-running verb: `--progress` / `--no-progress`. A redrawn bar is
 * shown by default only when stderr is a terminal (a log file or CI gets the step lines, not a bar every
 * 5 s); progress told in lines is shown unless `--no-progress`.
 */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';

export interface ProgressFlags {
  /** undefined: neither flag given. */
  progress?: boolean;
}

export function addProgressFlags(command: Command): Command {
  return command
    .option('--progress', 'show progress on stderr even when it is not a terminal (a line every 5 s)')
    .option('--no-progress', 'no progress on stderr (default: a bar when stderr is a terminal, progress lines always)');
}

/** A redrawn bar: by default only on a terminal, where it redraws in place. */
export function wantsProgress(flags: ProgressFlags, stderrIsTTY = process.stderr.isTTY === true): boolean {
  return flags.progress ?? stderrIsTTY;
}

/**
 * Progress told as lines (one per sample or step, each saying how it went): readable in a log too, so shown
 * unless `--no-progress`.
 */
export function wantsProgressLines(flags: ProgressFlags): boolean {
  return flags.progress !== false;
}

/**
 * A bar of `done / total <unit>` with a label, or nothing at all when progress is off. Lines written through
 * `log` end the bar first, so the two never share a line.
 */
export class ProgressBar {
  private readonly bar: cliProgress.SingleBar | undefined;
  private active = false;

  constructor(enabled: boolean, unit: string) {
    const err = process.stderr;
    this.bar = enabled
      ? new cliProgress.SingleBar(
          {
            stream: err,
            format: `  {bar} {percentage}% | {value}/{total} ${unit} | {label} | eta {eta_formatted}`,
            hideCursor: err.isTTY,
            noTTYOutput: true,
            notTTYSchedule: 5000,
            clearOnComplete: false,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  }

  update(done: number, total: number, label: string): void {
    if (!this.bar) return;
    if (!this.active) {
      this.bar.start(total, done, { label });
      this.active = true;
    }
    this.bar.setTotal(total);
    this.bar.update(done, { label });
    if (done >= total) this.stop();
  }

  stop(): void {
    if (this.active) this.bar!.stop();
    this.active = false;
  }

  log(line: string): void {
    this.stop();
    process.stderr.write(`${line}\n`);
  }
}
