/**
 * Python's `json.dumps(value, ensure_ascii=False[, indent=2])` and `str(float)`, byte for byte, because
 * lm-evaluation-harness hashes a document as the SHA-256 of exactly that text (`doc_hash`) and writes
 * log-likelihoods as `str(float)`: a reader comparing hashes or strings with lm-eval's must get the same bytes.
 *
 * JavaScript has one number type, so a value Python would hold as a float (an accuracy of 1.0, a version of
 * 1.0) is wrapped in `PyFloat`; a bare integral number is written as a Python int.
 */

export class PyFloat {
  constructor(readonly value: number) {}
}

export type PyJson = null | boolean | number | string | PyFloat | readonly PyJson[] | { readonly [key: string]: PyJson };

/**
 * `repr(float)` (= `str(float)`): the shortest digits that round-trip (JavaScript finds the same ones), in
 * fixed notation for decimal exponents -4..15 and `1.5e-05` / `1e+16` style outside, always with a `.0` or
 * a fraction in fixed notation.
 */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mantissa = '', exponentText = '0'] = Math.abs(x).toExponential().split('e');
  const exponent = Number(exponentText);
  const digits = mantissa.replace('.', '');
  if (exponent < -4 || exponent >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
  const fraction = digits.slice(exponent + 1);
  return `${sign}${whole}.${fraction === '' ? '0' : fraction}`;
}

/** A float as `json.dumps` writes it: repr, except the non-finite values (Python's non-standard JSON). */
function jsonFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  return pyFloatRepr(x);
}

const SHORT_ESCAPES: Readonly<Record<string, string>> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

/** With ensure_ascii=False Python escapes only the quote, the backslash and control characters below U+0020. */
function jsonString(text: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${text.replace(/["\\\u0000-\u001f]/g, (c) => SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
}

/**
 * `json.dumps(value, ensure_ascii=False)` (separators `, ` and `: `), or with `indent` (separators `,` and
 * `: `, each member on its own line, empty containers as `[]` / `{}`).
 */
export function pyJsonDumps(value: PyJson, indent?: number): string {
  const itemSeparator = indent === undefined ? ', ' : ',';
  const write = (v: PyJson, level: number): string => {
    if (v === null) return 'null';
    if (v === true) return 'true';
    if (v === false) return 'false';
    if (typeof v === 'string') return jsonString(v);
    if (typeof v === 'number') return Number.isInteger(v) ? String(BigInt(v)) : jsonFloat(v);
    if (v instanceof PyFloat) return jsonFloat(v.value);
    const entries: string[] = Array.isArray(v)
      ? (v as readonly PyJson[]).map((item) => write(item, level + 1))
      : Object.entries(v as { readonly [key: string]: PyJson }).map(([key, item]) => `${jsonString(key)}: ${write(item, level + 1)}`);
    const [open, close] = Array.isArray(v) ? ['[', ']'] : ['{', '}'];
    if (entries.length === 0) return open + close;
    if (indent === undefined) return open + entries.join(itemSeparator) + close;
    const inner = `\n${' '.repeat(indent * (level + 1))}`;
    return `${open}${inner}${entries.join(itemSeparator + inner)}\n${' '.repeat(indent * level)}${close}`;
  };
  return write(value, 0);
}
