/**
 * Seeded pseudo-random numbers for everything optibench must reproduce exactly (generated test models,
 * dataset subsets): the same seed gives the same numbers on every machine and Node version.
 */

/** mulberry32: 32-bit state, uniform floats in [0, 1). Small, fast, and good enough for sampling. */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples (Box-Muller), from a uniform source. */
export function createNormal(uniform: () => number): () => number {
  return () => {
    const u = 1 - uniform(); // (0, 1]: keeps log finite
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
}

/** Fisher-Yates shuffle of 0..n-1. */
export function seededPermutation(n: number, seed: number): number[] {
  const random = createRandom(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}
