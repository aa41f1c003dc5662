/** `optibench leaderboard`: the static leaderboard site from the results database. */
import { ensureWritableDir } from '../../core/output-dir.js';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { OptibenchError } from '../../core/errors.js';
import { isBoardDate, utcDay } from '../../leaderboard/dates.js';
import { DEFAULT_TITLE, DEFAULT_TOP, writeLeaderboardSite } from '../../leaderboard/site.js';
import { evaluatorTables, type AnyEvaluator } from '../../core/evaluator.js';
import { openStore } from '../../store/sqlite-store.js';
import { positiveInteger } from '../../core/cli/options.js';
import { displayPath } from '../../core/cli/terminal.js';

interface LeaderboardFlags {
  db: string;
  output: string;
  date?: string;
  top: number;
  title: string;
  round?: number;
}

function boardDate(value: string): string {
  if (!isBoardDate(value)) throw new InvalidArgumentError('expected a calendar day as YYYY-MM-DD');
  return value;
}

export function registerLeaderboard(program: Command, evaluators: readonly AnyEvaluator[]): void {
  program
    .command('leaderboard')
    .description(
      "Render the leaderboard site from the results database: one board per evaluator (the inference challenge's at the front, the others under <evaluator>/), each team's last submission ranked by the evaluator's score among the runs that passed its verdict",
    )
    .requiredOption('--db <file>', 'the results database (SQLite)')
    .requiredOption('-o, --output <dir>', 'the site folder: index.html, leaderboard.json and snapshots/<day>/ (earlier days are kept)')
    .option('--date <YYYY-MM-DD>', "the board's day, which names its snapshot (default: today, UTC)", boardDate)
    .option('--top <n>', 'how many ranked teams go on: the cut line', positiveInteger, DEFAULT_TOP)
    .option('--title <text>', "the front page's title (the other boards are titled by their evaluators)", DEFAULT_TITLE)
    .option('--round <n>', "only this round's submissions count (default: every round)", positiveInteger)
    .addHelpText(
      'after',
      '\nExit codes: 0 written, 1 bad input (missing database, wrong schema version, a newer snapshot already there), 2 usage.\n' +
        '\nExamples:\n  optibench leaderboard --db results.sqlite -o site\n  optibench leaderboard --db results.sqlite -o site --date 2025-03-04 --top 4 --round 2 --title "Round two"\n',
    )
    .action(async (flags: LeaderboardFlags) => {
      // openDatabase would name the missing file too, but only in SQLite's words.
      if (!existsSync(flags.db)) throw new OptibenchError('results database not found', { file: flags.db });
      // Read-only: a database written by an older optibench is upgraded in memory for this render, never on disk.
      const store = openStore(flags.db, { readonly: true, evaluators: evaluatorTables(evaluators) });
      try {
        // After the database: a refused database leaves no empty site folder behind.
        await ensureWritableDir(flags.output, '--output');
        const date = flags.date ?? utcDay(new Date());
        const site = await writeLeaderboardSite({ store, dbFile: flags.db, outDir: flags.output, date, top: flags.top, title: flags.title, round: flags.round, evaluators });
        const lines: string[] = [];
        for (const [i, written] of site.boards.entries()) {
          const b = written.board;
          lines.push(
            `leaderboard ${date}${i === 0 ? '' : ` (${written.title})`}: ${b.ranked.length} ranked (${b.ranked.filter((r) => r.advances).length} go on), ` +
              `${b.rejected.length} failed the gate, ${b.pending.length} pending, ${b.failed.length} failed`,
            `  board     ${displayPath(written.index)}`,
            `  json      ${displayPath(written.jsonFile)}`,
            `  snapshot  ${displayPath(path.join(written.snapshotDir, 'index.html'))}`,
          );
        }
        process.stdout.write(`${lines.join('\n')}\n`);
      } finally {
        store.close();
      }
    });
}
