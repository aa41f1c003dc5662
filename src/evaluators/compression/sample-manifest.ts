/**
 * `manifest.csv` of a sample set (PROTOCOL.md): file, kind, shape, dtype, layer, source, sha256. Read as
 * untrusted input when it is downloaded: every field is checked, errors name the line.
 */
import { OptibenchError } from '../../core/errors.js';

export const MANIFEST_COLUMNS = ['file', 'kind', 'shape', 'dtype', 'layer', 'source', 'sha256'] as const;

export interface SampleEntry {
  readonly file: string;
  readonly kind: 'forward' | 'backward';
  readonly shape: readonly number[];
  readonly dtype: 'bfloat16';
  readonly layer: number | null;
  readonly source: string;
  readonly sha256: string;
}

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function writeManifestCsv(entries: readonly SampleEntry[]): string {
  const lines = [MANIFEST_COLUMNS.join(',')];
  for (const e of entries) lines.push([e.file, e.kind, e.shape.join('x'), e.dtype, e.layer === null ? '' : String(e.layer), e.source, e.sha256].map(csvField).join(','));
  return `${lines.join('\n')}\n`;
}

/** RFC 4180 records: quoted fields may hold commas, quotes (doubled) and newlines. */
function parseCsv(text: string): { fields: string[]; line: number }[] {
  const records: { fields: string[]; line: number }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else {
        if (ch === '\n') line++;
        field += ch;
      }
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      fields.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      fields.push(field);
      if (!(fields.length === 1 && fields[0] === '')) records.push({ fields, line: recordLine });
      fields = [];
      field = '';
      line++;
      recordLine = line;
    } else field += ch;
  }
  if (quoted) throw new OptibenchError('a quoted field is never closed', { line: recordLine });
  if (field !== '' || fields.length) {
    fields.push(field);
    records.push({ fields, line: recordLine });
  }
  return records;
}

export function parseManifestCsv(text: string, file = 'manifest.csv'): SampleEntry[] {
  const records = parseCsv(text);
  const header = records.shift();
  if (!header || header.fields.join(',') !== MANIFEST_COLUMNS.join(',')) {
    throw new OptibenchError(`expected the header ${MANIFEST_COLUMNS.join(',')}`, { file, line: 1 });
  }
  const seen = new Set<string>();
  return records.map(({ fields, line }) => {
    const at = (key: string, message: string) => new OptibenchError(message, { file, line, key });
    if (fields.length !== MANIFEST_COLUMNS.length) throw at('(row)', `expected ${MANIFEST_COLUMNS.length} fields, got ${fields.length}`);
    const [name, kind, shape, dtype, layer, source, sha256] = fields as [string, string, string, string, string, string, string];
    if (!/^[A-Za-z0-9._-]+\.npy$/.test(name) || name.startsWith('.')) throw at('file', `expected a plain .npy file name (no folders, no leading dot), got "${name}"`);
    if (seen.has(name)) throw at('file', `${name} is listed twice`);
    seen.add(name);
    if (kind !== 'forward' && kind !== 'backward') throw at('kind', `expected forward or backward, got "${kind}"`);
    const dims = shape.split('x').map(Number);
    if (shape === '' || !dims.every((d) => Number.isInteger(d) && d > 0)) throw at('shape', `expected dimensions joined by x (e.g. 1x800x128), got "${shape}"`);
    if (dtype !== 'bfloat16') throw at('dtype', `expected bfloat16, got "${dtype}"`);
    if (layer !== '' && !/^\d+$/.test(layer)) throw at('layer', `expected a layer index or nothing, got "${layer}"`);
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw at('sha256', 'expected 64 lower-case hex digits');
    return { file: name, kind, shape: dims, dtype, layer: layer === '' ? null : Number(layer), source, sha256 };
  });
}
