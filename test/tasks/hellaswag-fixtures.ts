/** Shared fixtures for the HellaSwag tests (not a test file itself, so importing it runs no tests twice). */

/*
 * Real HellaSwag validation items as JSON lines, for checking preprocessing against expectations worked
 * out by hand. The ActivityNet ones are verbatim from the official hellaswag_val.jsonl (its first lines,
 * as widely quoted). The official file is not on this machine, so the two WikiHow ones are
 * reconstructions: their text is the published text form's (hellaswag_val_full.txt lines 21031 and
 * 33553) with the [header]/[title]/[step]/[substeps] markers put back where the text form's traces
 * ("..", dropped markers) show them. hellaswag-load.test.ts checks all five against the text form.
 */
export const REAL_ITEMS = {
  // Validation item 0 (ind 24).
  roof: {
    ind: 24, activity_label: 'Roof shingle removal', ctx_a: 'A man is sitting on a roof.', ctx_b: 'he',
    ctx: 'A man is sitting on a roof. he', split: 'val', split_type: 'indomain', label: 3,
    endings: ['is using wrap to wrap a pair of skis.', 'is ripping level tiles off.', "is holding a rubik's cube.", 'starts pulling up roofing on a roof.'],
    source_id: 'activitynet~v_-JhWjGDPHMY',
  },
  // Validation item 1 (ind 92): a two-word ctx_b.
  barbell: {
    ind: 92, activity_label: 'Clean and jerk', ctx_a: 'A lady walks to a barbell. She bends down and grabs the pole.', ctx_b: 'the lady',
    ctx: 'A lady walks to a barbell. She bends down and grabs the pole. the lady', split: 'val', split_type: 'zeroshot', label: 3,
    endings: ['swings and lands in her arms.', 'pulls the barbell forward.', 'pulls a rope attached to the barbell.', 'stands and lifts the weight over her head.'],
    source_id: 'activitynet~v_-lJS58hyo1c',
  },
  // Validation item 8 (ind 180).
  knife: {
    ind: 180, activity_label: 'Sharpening knives', ctx_a: 'A man is holding a pocket knife while sitting on some rocks in the wilderness.', ctx_b: 'then he',
    ctx: 'A man is holding a pocket knife while sitting on some rocks in the wilderness. then he', split: 'val', split_type: 'zeroshot', label: 1,
    endings: [
      'opens a can of oil put oil on the knife, and puts oil on a knife and press it through a can filled with oil then cuts several pieces from the sandwiches.',
      'takes a small stone from the flowing river and smashes it on another stone.',
      'uses the knife to shave his leg.',
      'sand the rocks and tops them by using strong pressure.',
    ],
    source_id: 'activitynet~v_0bosp4-pyTM',
  },
  // Validation item 3505 (reconstructed): [header], three [title]s, and a bracket that is no marker.
  toddler: {
    activity_label: 'Family Life',
    ctx_a: '[header] How to entertain a toddler [title] Ask the toddler what he or she would like to do instead of doing what you would like to do. [title] Visit a site like [www.kiddio.org] to find loads of creative activities for toddlers and preschoolers. [title] Choose small, simple games like candy land or chutes and ladders.',
    ctx_b: '', split: 'val', split_type: 'indomain', label: 1,
    endings: [
      'Make sure you get a computer or tablet in case the toddler wants to do some general stuff. [substeps] And maybe ask to go get a snack or an xbox or wii.',
      "Try some arts and crafts like washable paints, little foamies, crayons, and paper. [title] Watch the toddler's favorite movie, even if it's barney, and even if he or she has seen it 20 times before.",
      'Make sure the kid you are babysitting is old enough to handle various household chores or housework. Little kids will have a difficult time holding objects and will have precious time learning any new skill.',
      'If you discover that your toddler likes archery or fishing, create activities around these games as well. Alternatively, make small squares and place them around the toddler.',
    ],
  },
  // Validation item 5592 (reconstructed): [step] beside a link-style bracket.
  pixie: {
    activity_label: 'Personal Care and Style',
    ctx_a: '[header] How to style straight hair [title] Opt for a pixie cut. [step] A [style a pixie cut | pixie cut] can provide short straight hair with a lot of volume and movement. To achieve a voluminous pixie, keep the sides cropped, the top long, and add lots of layers throughout your short locks.',
    ctx_b: '', split: 'val', split_type: 'indomain', label: '3',
    endings: [
      "You can style your hair or model it. [substeps] Make sure your hair isn't too long or too short and that you fill in any lumps.",
      'Make sure your short locks fall evenly throughout your hair to provide approximately a dozen layers. [title] Keep extensions or pomade for wavy hair.',
      'Pixie cuts are often pretty long, often 50 minutes or more, sometimes adding volume to the side lengths. You may also want to make your hair look thicker in the front and longer on the sides.',
      'The pixie is a versatile haircut. You can wear it slightly tousled, slicked backed, or with edgy spikes.',
    ],
  },
} as const;

export function asJsonl(items: readonly object[]): string {
  return items.map((item) => JSON.stringify(item)).join('\n') + '\n';
}
