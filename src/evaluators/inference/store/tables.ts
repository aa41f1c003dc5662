/**
 * The inference evaluator's own tables in the results database: every item's four log-likelihoods
 * (`inference_items`, what `run --resume` continues from and what a run can be rescored from) and the figures
 * behind an accuracy-gate verdict (`inference_gates`; whether it passed, why and against which baseline is the
 * store's `verdicts` row).
 */
import { OptibenchError } from '../../../core/errors.js';
import { hasTable, type EvaluatorTables, type ItemTable, type SqlConnection } from '../../../core/store.js';
import { itemResultSchema, type ItemResult } from '../results.js';

const ITEMS = `
CREATE TABLE inference_items (
  run_id               TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  item_index           INTEGER NOT NULL,   -- the document's index in the dataset file
  gold                 INTEGER,            -- NULL where the scorer had no labels (inside a sandbox)
  loglikelihoods       TEXT NOT NULL,      -- JSON array, one per ending
  is_greedy            TEXT NOT NULL,      -- JSON array of booleans
  context_tokens       INTEGER NOT NULL,
  continuation_tokens  TEXT NOT NULL,      -- JSON array
  choice_chars         TEXT NOT NULL,      -- JSON array
  predictions          TEXT NOT NULL,      -- JSON object: metric -> predicted ending
  PRIMARY KEY (run_id, item_index)
);`;

const GATES = `
CREATE TABLE inference_gates (
  run_id           TEXT PRIMARY KEY REFERENCES verdicts(run_id) ON DELETE CASCADE,
  metric           TEXT NOT NULL,
  baseline_value   REAL NOT NULL,
  value            REAL NOT NULL,
  drop_points      REAL NOT NULL,         -- (baseline - value) * 100
  max_drop_points  REAL NOT NULL,
  full_set         INTEGER NOT NULL CHECK (full_set IN (0, 1)),
  speedup          REAL                   -- baseline median / this run's median
);`;

/** Version 1 databases kept these facts in the store's own tables; the store's upgrade left them under legacy names. */
function createOrAdopt(sql: SqlConnection): void {
  if (hasTable(sql, 'legacy_v1_run_items')) sql.exec('ALTER TABLE legacy_v1_run_items RENAME TO inference_items');
  else sql.exec(ITEMS);
  sql.exec(GATES);
  if (hasTable(sql, 'legacy_v1_gates')) {
    sql.exec(`INSERT INTO inference_gates SELECT run_id, metric, baseline_value, value, drop_points, max_drop_points, full_set, speedup FROM legacy_v1_gates;
              DROP TABLE legacy_v1_gates;`);
  }
}

const COLUMNS = ['gold', 'loglikelihoods', 'is_greedy', 'context_tokens', 'continuation_tokens', 'choice_chars', 'predictions'] as const;

function parseJson(text: unknown, where: string): unknown {
  try {
    return JSON.parse(String(text));
  } catch {
    throw new OptibenchError(`${where} does not hold valid JSON`);
  }
}

export const inferenceItemTable: ItemTable<ItemResult> = {
  table: 'inference_items',
  columns: COLUMNS,
  key: (item) => item.index,
  toRow: (item) => [
    item.gold,
    JSON.stringify(item.loglikelihoods),
    JSON.stringify(item.isGreedy),
    item.contextTokens,
    JSON.stringify(item.continuationTokens),
    JSON.stringify(item.choiceChars),
    JSON.stringify(item.predictions),
  ],
  fromRow(row, runId) {
    const index = Number(row.item_index);
    if (row.gold === null) throw new OptibenchError(`run ${runId}: item ${index} was stored without its label`);
    const column = (name: (typeof COLUMNS)[number]) => parseJson(row[name], `run ${runId}: column inference_items.${name} of item ${index}`);
    const parsed = itemResultSchema.safeParse({
      index,
      gold: row.gold,
      choiceChars: column('choice_chars'),
      loglikelihoods: column('loglikelihoods'),
      isGreedy: column('is_greedy'),
      contextTokens: row.context_tokens,
      continuationTokens: column('continuation_tokens'),
      predictions: column('predictions'),
    });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new OptibenchError(`run ${runId}: item ${index} is not a valid item: ${issue.path.join('.')}: ${issue.message}`);
    }
    return parsed.data;
  },
};

export const inferenceTables: EvaluatorTables<ItemResult> = {
  migrations: [{ description: 'per-item results and accuracy-gate figures (adopting a version 1 database\'s)', up: createOrAdopt }],
  items: inferenceItemTable,
};
