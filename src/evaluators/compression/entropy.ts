/**
 * The order-0 entropy bound of a sample's 16-bit values: the fewest bits per value any coder that codes each
 * value on its own (from the sample's own histogram) can reach. A solution's ratio beside `16 / H` shows how far
 * it is from every symbol-wise coder; context models can beat it.
 */
export interface EntropyBound {
  /** Shannon entropy of the value histogram, bits per 16-bit value. */
  readonly bitsPerValue: number;
  /** 16 / bitsPerValue: the best ratio a symbol-wise coder reaches (Infinity for a constant sample). */
  readonly ratio: number;
}

export function order0Entropy(bits: Uint16Array): EntropyBound {
  if (bits.length === 0) return { bitsPerValue: 0, ratio: Infinity };
  const counts = new Uint32Array(65536);
  for (let i = 0; i < bits.length; i++) counts[bits[i]!]!++;
  let h = 0;
  const n = bits.length;
  for (let v = 0; v < 65536; v++) {
    const c = counts[v]!;
    if (c > 0) h -= (c / n) * Math.log2(c / n);
  }
  return { bitsPerValue: h, ratio: h === 0 ? Infinity : 16 / h };
}
