/** One document's answers turned into its scored item, the same way for an in-process run and a SUT's. */
import type { TokenAnswer } from '../../core/backend.js';
import type { MultipleChoiceDoc, Task } from '../../core/task.js';
import type { Plan } from './plan.js';
import type { ItemResult } from './results.js';

/** The scored item of the plan's document at `position`, or undefined while any of its requests is unanswered. */
export function scoredItem(task: Task, plan: Plan, position: number, answers: ReadonlyMap<number, TokenAnswer>): ItemResult | undefined {
  const doc = plan.docs[position]! as MultipleChoiceDoc;
  const ids = plan.requestsByDoc[position]!;
  const docAnswers = ids.map((id) => answers.get(id));
  if (docAnswers.some((a) => a === undefined)) return undefined;
  const scored = task.toScored(doc, docAnswers as TokenAnswer[]);
  return {
    index: doc.index,
    gold: scored.gold,
    choiceChars: [...scored.choiceChars],
    loglikelihoods: [...scored.loglikelihoods],
    isGreedy: docAnswers.map((a) => a!.isGreedy),
    contextTokens: plan.requests[ids[0]!]!.context.length,
    continuationTokens: ids.map((id) => plan.requests[id]!.continuation.length),
    predictions: { ...task.score(scored).predictions },
  };
}
