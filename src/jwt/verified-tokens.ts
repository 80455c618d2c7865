/**
 * Verified tokens, kept so that a repeat check costs no signature verification. Bounded (two generations
 * of `GenerationalCache`), and keyed by the token's own text up to 2 KB; the rare longer tokens by their
 * SHA-256 digest, in a cache of their own so that no short text can ever be read as a digest. Together the
 * two stay within a few tens of megabytes. Callers decide whether an entry still counts (its `exp`, its key).
 */
import { createHash } from 'node:crypto';
import { GenerationalCache } from '../session/cache.js';

/** Tokens up to this length are cached under their own text; longer ones under a digest. */
const MAX_CACHED_TOKEN_LENGTH = 2048;

/** What a cache entry must hold: when the token expires, and the key that verified it. */
export interface VerifiedEntry<K> {
  readonly exp: number;
  readonly key: K;
}

export class VerifiedTokens<V extends VerifiedEntry<unknown>> {
  readonly #short = new GenerationalCache<V>(10_000);
  readonly #long = new GenerationalCache<V>(1_000);

  /**
   * The entry for `token` while it is unexpired at `nowSeconds` and `known` still holds its key (a key
   * removed from a profile or a key set takes its tokens with it, JWT-32).
   */
  get(token: string, nowSeconds: number, known: (key: V['key']) => boolean): V | undefined {
    const entry = token.length > MAX_CACHED_TOKEN_LENGTH ? this.#long.get(digest(token)) : this.#short.get(token);
    return entry !== undefined && entry.exp > nowSeconds && known(entry.key) ? entry : undefined;
  }

  set(token: string, entry: V): void {
    if (token.length > MAX_CACHED_TOKEN_LENGTH) this.#long.set(digest(token), entry);
    else this.#short.set(token, entry);
  }
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
