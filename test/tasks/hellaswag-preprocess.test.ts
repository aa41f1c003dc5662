import { describe, expect, it } from 'vitest';
import {
  codePointLength,
  parseJsonl,
  preprocess,
  pyCapitalize,
  pyStrip,
  queryFromTextForm,
} from '../../src/tasks/hellaswag/index.js';
import { asJsonl, REAL_ITEMS } from './hellaswag-fixtures.js';

function loadOne(item: object) {
  const [doc] = parseJsonl(asJsonl([item]), 'fixture.jsonl');
  return doc!;
}

describe('Python built-ins', () => {
  it('strips what str.strip() strips, not what trim() strips', () => {
    expect(pyStrip(' \t\n a b \r\n')).toBe('a b');
    // U+001C..U+001F and U+0085 are whitespace to Python; U+FEFF is not.
    expect(pyStrip('\x1c\x85a\x1f')).toBe('a');
    expect(pyStrip('\ufeffa\ufeff')).toBe('\ufeffa\ufeff');
    expect(pyStrip('\u3000a\u2029')).toBe('a');
  });

  it('capitalizes as str.capitalize(): title-case first, lower-case the rest', () => {
    expect(pyCapitalize('then, the Man')).toBe('Then, the man');
    expect(pyCapitalize('he')).toBe('He');
    expect(pyCapitalize('HELLO World')).toBe('Hello world');
    expect(pyCapitalize('" a camel ride "')).toBe('" a camel ride "');
    expect(pyCapitalize('')).toBe('');
    // Title case differs from upper case: 'ß'.capitalize() == 'Ss', 'ǆemal'.capitalize() == 'ǅemal'.
    expect(pyCapitalize('ßa')).toBe('Ssa');
    expect(pyCapitalize('ǆemal')).toBe('ǅemal');
    expect(pyCapitalize('ﬁsh')).toBe('Fish');
    // Georgian title-cases to itself although Unicode 11 gave it capitals: 'ავ'.capitalize() == 'ავ'.
    expect(pyCapitalize('ავ')).toBe('ავ');
    // A final capital sigma lower-cases to ς in the context of the whole string: 'ΑΣ'.capitalize() == 'Ας'.
    expect(pyCapitalize('ΑΣ')).toBe('Ας');
    // Astral first character: '𐐨x'.capitalize() == '𐐀x' (Deseret).
    expect(pyCapitalize('\u{10428}X')).toBe('\u{10400}x');
  });

  it('counts code points as len() does', () => {
    expect(codePointLength('abc')).toBe(3);
    expect(codePointLength('crème')).toBe(5);
    expect(codePointLength('\u{1D11E} clef')).toBe(6); // 7 UTF-16 units
    expect(codePointLength('e\u0301')).toBe(2); // a combining accent is its own code point in Python too
  });
});

describe('preprocess (lm-eval utils.preprocess)', () => {
  it('turns " [title]" into ". " before deleting the other brackets', () => {
    // strip -> "a [title] b [step] c"; " [title]" -> ". " gives "a.  b [step] c"; the regex deletes
    // "[step]" -> "a.  b  c"; folding "  " -> " " gives "a. b c".
    expect(preprocess('  a [title] b [step] c ')).toBe('a. b c');
  });

  it('deletes brackets non-greedily and folds double spaces in one pass', () => {
    // "[x] and [y]" are two matches, not one; "a   b" (three spaces) folds to "a  b" (two), as in Python.
    expect(preprocess('keep [x] and [y] this')).toBe('keep and this');
    expect(preprocess('a   b')).toBe('a  b');
    // "[a [b] c]": the match is "[a [b]", leaving " c]".
    expect(preprocess('x [a [b] c] y')).toBe('x c] y');
  });

  it('does not let a bracket span a newline, as Python\'s "." does not match "\\n"', () => {
    expect(preprocess('a [b\nc] d')).toBe('a [b\nc] d');
    // "\r" is matched by Python's ".", unlike JavaScript's.
    expect(preprocess('a [b\rc] d')).toBe('a d');
  });

  it('keeps the leading space left by a marker at the start (strip runs first)', () => {
    // strip: nothing; no " [title]" (no space before it); the regex leaves " Set a timer."
    expect(preprocess('[title] Set a timer.')).toBe(' Set a timer.');
  });
});

describe('documents from real validation items, worked by hand', () => {
  it('item 0: capitalizes ctx_b', () => {
    // ctx = "A man is sitting on a roof." + " " + "he".capitalize() = "A man is sitting on a roof. He";
    // query = preprocess("Roof shingle removal: " + ctx): nothing to strip, replace or fold.
    const doc = loadOne(REAL_ITEMS.roof);
    expect(doc.query).toBe('Roof shingle removal: A man is sitting on a roof. He');
    expect(doc.choices).toEqual(REAL_ITEMS.roof.endings);
    expect(doc.gold).toBe(3);
    expect(doc.source).toBe('fixture.jsonl:1');
  });

  it('items 1 and 8: capitalize only the first word of a longer ctx_b', () => {
    expect(loadOne(REAL_ITEMS.barbell).query).toBe('Clean and jerk: A lady walks to a barbell. She bends down and grabs the pole. The lady');
    expect(loadOne(REAL_ITEMS.knife).query).toBe(
      'Sharpening knives: A man is holding a pocket knife while sitting on some rocks in the wilderness. Then he',
    );
  });

  it('item 3505: [header], [title] and a bracket that is not a marker', () => {
    // "Family Life: [header] How to entertain a toddler [title] Ask ... do. [title] Visit a site like
    // [www.kiddio.org] to ... preschoolers. [title] Choose ... ladders. " (ctx_b "" leaves a trailing
    // space, which strip removes). " [title]" -> ". ": "toddler.  Ask", "do..  Visit", "preschoolers..  Choose".
    // The regex deletes "[header]" ("Family Life:  How") and "[www.kiddio.org]" ("like  to"). Folding
    // every "  " leaves single spaces.
    const doc = loadOne(REAL_ITEMS.toddler);
    expect(doc.query).toBe(
      'Family Life: How to entertain a toddler. Ask the toddler what he or she would like to do instead of doing what you would like to do.. Visit a site like to find loads of creative activities for toddlers and preschoolers.. Choose small, simple games like candy land or chutes and ladders.',
    );
    // Ending 0: the regex deletes "[substeps]" -> "stuff.  And" -> "stuff. And".
    // Ending 1: " [title]" -> ". " -> "paper..  Watch" -> "paper.. Watch".
    expect(doc.choices[0]).toBe('Make sure you get a computer or tablet in case the toddler wants to do some general stuff. And maybe ask to go get a snack or an xbox or wii.');
    expect(doc.choices[1]).toBe(
      "Try some arts and crafts like washable paints, little foamies, crayons, and paper.. Watch the toddler's favorite movie, even if it's barney, and even if he or she has seen it 20 times before.",
    );
    expect(doc.gold).toBe(1);
  });

  it('item 5592: [step] and a link bracket, with a string label', () => {
    // "... straight hair [title] Opt for a pixie cut. [step] A [style a pixie cut | pixie cut] can ..."
    // " [title]" -> "hair.  Opt"; the regex deletes "[header]", "[step]" and "[style a pixie cut | pixie
    // cut]" -> "Style:  How", "cut.  A  can"; folding -> "Style: How", "cut. A can".
    const doc = loadOne(REAL_ITEMS.pixie);
    expect(doc.query).toBe(
      'Personal Care and Style: How to style straight hair. Opt for a pixie cut. A can provide short straight hair with a lot of volume and movement. To achieve a voluminous pixie, keep the sides cropped, the top long, and add lots of layers throughout your short locks.',
    );
    expect(doc.choices[1]).toBe('Make sure your short locks fall evenly throughout your hair to provide approximately a dozen layers.. Keep extensions or pomade for wavy hair.');
    expect(doc.gold).toBe(3);
  });

  it('a ctx_b with a later capital is lower-cased (no validation item has one: written for the test)', () => {
    const doc = loadOne({ ...REAL_ITEMS.roof, ctx_b: 'then, the Man in the RED shirt' });
    expect(doc.query).toBe('Roof shingle removal: A man is sitting on a roof. Then, the man in the red shirt');
  });
});

describe('text-form repair', () => {
  it('capitalizes the ctx_b fragment of an ActivityNet line and leaves complete sentences alone', () => {
    expect(queryFromTextForm('Roof shingle removal: A man is sitting on a roof. he')).toBe('Roof shingle removal: A man is sitting on a roof. He');
    // ctx_a "." (an empty first caption): the fragment after it is ctx_b.
    expect(queryFromTextForm('Hand car wash: . a colorful intro')).toBe('Hand car wash: . A colorful intro');
    // No sentence end at all: the whole ctx is ctx_b (ctx_a empty).
    expect(queryFromTextForm('Label: the man')).toBe('Label: The man');
    expect(queryFromTextForm('Family Life: How to entertain a toddler. Ask the toddler.')).toBe('Family Life: How to entertain a toddler. Ask the toddler.');
    // A digit or quote first: capitalize changes nothing.
    expect(queryFromTextForm('Playing saxophone: 1 a guy is playing. 2 a guy')).toBe('Playing saxophone: 1 a guy is playing. 2 a guy');
  });

  it('re-applies preprocess only where a bracket is left', () => {
    expect(queryFromTextForm('Label: Visit [www.example.org] today.')).toBe('Label: Visit today.');
    // A double space with no bracket stays (like the ending on line 24730): lm-eval leaves it there too.
    expect(queryFromTextForm('Label: to bed.  Do not.')).toBe('Label: to bed.  Do not.');
  });
});
