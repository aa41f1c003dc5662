/**
 * Text boxes as chromium lays out the charts' 12 px system-ui on Debian (DejaVu Sans): advance widths per
 * character and the box around the baseline, read once with getBBox on ten copies of each character. The chart
 * code estimates text without a browser; the tests hold its placements against these measured figures.
 */
const MEASURED: Record<string, string> = {
  '3.30': "'",
  '3.33': 'il',
  '3.39': 'j',
  '3.54': 'I',
  '3.65': 'J',
  '3.81': ' ,.',
  '4.04': ':;|',
  '4.09': '/\\',
  '4.16': 'f',
  '4.33': '-',
  '4.68': '()[]',
  '4.70': 't',
  '4.76': 'r',
  '4.81': '!',
  '5.51': '"',
  '5.99': '*`',
  '6.08': '_',
  '6.25': 's',
  '6.29': 'z',
  '6.36': '?',
  '6.59': 'c',
  '6.70': 'L',
  '6.90': 'F',
  '6.99': 'k',
  '7.10': 'vy',
  '7.20': 'T',
  '7.23': 'P',
  '7.34': 'o',
  '7.35': 'a',
  '7.38': 'eé',
  '7.39': 'Y',
  '7.58': 'E',
  '7.60': 'hnu',
  '7.61': 'Sbdgpq',
  '7.63': '0123456789${}',
  '7.93': 'K',
  '8.21': 'XZ',
  '8.22': 'B',
  '8.24': 'V',
  '8.35': 'R',
  '8.37': 'C',
  '8.54': 'A',
  '8.78': 'U',
  '8.97': 'N',
  '9.02': 'H',
  '9.23': 'D',
  '9.29': 'G',
  '9.35': '&',
  '9.44': 'OQ',
  '9.81': 'w',
  '10.00': 'x',
  '10.05': '#+<=>^~≥',
  '10.34': 'M',
  '11.39': '%',
  '11.68': 'm',
  '11.87': 'W',
  '11.99': '@…',
};
const ADVANCE = new Map(Object.entries(MEASURED).flatMap(([width, chars]) => [...chars].map((c) => [c, Number(width)] as const)));

/** Width in px of `text` at 12 px DejaVu Sans; throws on a character not measured, so a test cannot guess. */
export function dejavuWidth(text: string): number {
  let width = 0;
  for (const c of text) {
    const advance = ADVANCE.get(c);
    if (advance === undefined) throw new Error(`no measured width for ${JSON.stringify(c)}`);
    width += advance;
  }
  return width;
}

/** The box chromium gives a start-anchored text at (x, baseline). */
export function dejavuBox(x: number, baseline: number, text: string): { x: number; y: number; width: number; height: number } {
  return { x, y: baseline - 11.25, width: dejavuWidth(text), height: 14.06 };
}
