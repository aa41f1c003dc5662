/**
 * The items a sandboxed submission scores: the selected documents of the real dataset written without their
 * labels (see UNLABELED_SUFFIX). The labelled documents stay with the outer process, which scores with them.
 */
import { writeFile } from 'node:fs/promises';
import { selectSubset } from '../../../core/subset.js';
import { sha256File } from '../../../models/llama/weights-hash.js';
import { hellaswagTask, unlabeledLine, type HellaswagDoc } from '../../../tasks/hellaswag/index.js';

export interface SelectedItems {
  readonly datasetPath: string;
  readonly datasetSha256: string;
  readonly totalDocs: number;
  /** In dataset order, with their labels. */
  readonly docs: readonly HellaswagDoc[];
}

export async function selectItems(datasetPath: string, limit: number | null, seed: number): Promise<SelectedItems> {
  const all = await hellaswagTask.load(datasetPath);
  return { datasetPath, datasetSha256: await sha256File(datasetPath), totalDocs: all.length, docs: selectSubset(all, limit, seed) };
}

export async function writeUnlabeledItems(items: SelectedItems, file: string): Promise<void> {
  await writeFile(file, items.docs.map((doc) => `${unlabeledLine(doc)}\n`).join(''), { mode: 0o644 });
}
