/**
 * The plan: a task's documents turned into token requests, the way lm-evaluation-harness builds them
 * (context/continuation split, left truncation to the model's length). Labels stay in the documents;
 * the requests carry none.
 */
import type { TokenRequest } from '../../core/backend.js';
import { OptibenchError } from '../../core/errors.js';
import type { MultipleChoiceDoc, Task } from '../../core/task.js';
import { encodePair, truncateLeft } from '../../tokenizers/encode-pair.js';
import type { TextTokenizer } from '../../tokenizers/tokenizer.js';

export interface Plan<Doc extends MultipleChoiceDoc = MultipleChoiceDoc> {
  readonly docs: readonly Doc[];
  readonly requests: readonly TokenRequest[];
  /** For each document, the ids of its requests in choice order. */
  readonly requestsByDoc: readonly (readonly number[])[];
  /** Requests whose context was cut on the left to fit the model. */
  readonly truncated: number;
}

export function buildPlan<Doc extends MultipleChoiceDoc>(
  task: Task<Doc>,
  docs: readonly Doc[],
  tokenizer: TextTokenizer,
  maxLength: number,
): Plan<Doc> {
  const requests: TokenRequest[] = [];
  const requestsByDoc: number[][] = [];
  let truncated = 0;
  // Every choice of a document encodes the same context: encode it once.
  const encoded = new Map<string, number[]>();
  const memoized: TextTokenizer = Object.assign(Object.create(tokenizer) as TextTokenizer, {
    encode(text: string): number[] {
      let ids = encoded.get(text);
      if (!ids) {
        ids = tokenizer.encode(text);
        encoded.set(text, ids);
      }
      return ids;
    },
  });
  docs.forEach((doc, position) => {
    const ids: number[] = [];
    for (const text of task.requests(doc, position)) {
      const pair = encodePair(memoized, text.context, text.continuation);
      const fitted = truncateLeft(pair, maxLength);
      if (fitted.context.length === 0) {
        throw new OptibenchError(
          `choice ${text.choice} is ${pair.continuation.length} tokens long, more than the model's ${maxLength} positions can score`,
          { file: doc.source },
        );
      }
      if (fitted.context.length < pair.context.length || fitted.continuation.length < pair.continuation.length) truncated++;
      const id = requests.length;
      requests.push({ id, group: position, context: fitted.context, continuation: fitted.continuation });
      ids.push(id);
    }
    requestsByDoc.push(ids);
    encoded.clear();
  });
  return { docs, requests, requestsByDoc, truncated };
}

/** Positions the model computes for a request (padding excluded): the whole sequence but its last token. */
export function positionsOf(request: TokenRequest): number {
  return request.context.length + request.continuation.length - 1;
}
