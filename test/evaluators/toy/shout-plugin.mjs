// A plugin for the toy evaluator only: the words come back upper-cased, so an entry must reverse what it is given.
export default {
  name: 'shout',
  version: '1.0.0',
  description: 'Test fixture: upper-cases the toy evaluator\'s words',
  appliesTo: { evaluator: 'toy' },
  create: () => ({
    prepareWords: (words) => words.map((w) => w.toUpperCase()),
    describe: () => ({ shouted: true }),
  }),
};
