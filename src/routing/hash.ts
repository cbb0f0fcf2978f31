/**
 * Hashing for sticky assignment: MurmurHash3 (x86, 32-bit) style mixing over UTF-16 code units,
 * in plain 32-bit integer arithmetic (`Math.imul`), no BigInt.
 *
 * The values must never change between releases: every sidecar of a fleet computes the same
 * assignment for the same (key, backend name, weights), which is what keeps a user on one split
 * variant whichever pod serves them. Changing a seed or a constant here reshuffles every
 * sticky user at once.
 */

const KEY_SEED = 0x52435231; // "RCR1"
const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const TWO_POW_32 = 4294967296;
/** The unit value carries 52 bits so that `x + 0.5` stays exact and the result never reaches 0 or 1. */
const TWO_POW_52 = 4503599627370496;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

/** MurmurHash3's 32-bit finaliser: full avalanche of every input bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3-style 32-bit hash of a string, one UTF-16 code unit per block. */
export function hash32(text: string, seed: number): number {
  let h = seed | 0;
  for (let i = 0; i < text.length; i++) {
    let k = Math.imul(text.charCodeAt(i), C1);
    k = rotl(k, 15);
    k = Math.imul(k, C2);
    h ^= k;
    h = rotl(h, 13);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  return fmix32(h ^ text.length);
}

/** Hash of a sticky key, computed once per request and combined with each arm by {@link unitHash}. */
export function keyHash(key: string): number {
  return hash32(key, KEY_SEED);
}

/**
 * Maps (key hash, backend name) to a uniform number in the open interval (0, 1), with 52 bits of
 * resolution: two independently seeded 32-bit lanes over the name, cross-mixed at the end.
 */
export function unitHash(key: number, name: string): number {
  const h1 = hash32(name, key);
  const h2 = fmix32((hash32(name, key ^ 0x9e3779b9) + h1) | 0);
  return ((h1 >>> 12) * TWO_POW_32 + h2 + 0.5) / TWO_POW_52;
}
