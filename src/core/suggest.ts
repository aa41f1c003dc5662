/**
 * "Did you mean": the one place optibench guesses what a mistyped name meant (config keys, schema names),
 * so every suggestion follows the same rule.
 */
import { distance } from 'fastest-levenshtein';

/** Case, `_` and `-` do not count: `batch_size` and `batchsize` are the same typo of `batchSize`. */
function normalise(name: string): string {
  return name.toLowerCase().replace(/[_-]/g, '');
}

/**
 * The candidate nearest to `word`, when it is near enough to be a typo of it: at most one edit in three
 * characters (at least one edit), as commander's own suggestions allow for flags and commands.
 */
export function closestName(word: string, candidates: Iterable<string>): string | undefined {
  const target = normalise(word);
  const allowed = Math.max(1, Math.floor(target.length / 3));
  let best: { name: string; edits: number } | undefined;
  for (const name of candidates) {
    if (name === word) continue;
    const edits = distance(target, normalise(name));
    if (edits <= allowed && (best === undefined || edits < best.edits)) best = { name, edits };
  }
  return best?.name;
}

/** ` (did you mean "x"?)`, or nothing when no candidate is close. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const name = closestName(word, candidates);
  return name === undefined ? '' : ` (did you mean "${name}"?)`;
}
