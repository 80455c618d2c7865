/**
 * The bearer-token deny-list shared through Redis, with the Redis session store. `gatehouse token revoke`
 * puts a token's `jti`, or a subject, on a profile's list, and every replica refuses it within about a
 * second: no restart, no file to copy to each replica.
 *
 * A check never waits for Redis. Each replica keeps a copy of the lists in memory, reads a version stamp
 * every second and rereads the lists when it changed (and every 30 seconds regardless, for an entry written
 * by hand without changing the stamp). The stamp is random, never a counter: a counter can come back to a
 * value a replica saw (Redis restored from an older snapshot, a failover that lost writes, then new
 * revocations) while the lists hold other entries. Until the first read succeeds a replica does not know what is
 * revoked, so the profiles' tokens are refused with 503: a revoked token must not pass because a replica
 * started during an outage. After that, a Redis outage keeps the last copy in force, so tokens keep
 * working while Redis is down.
 *
 * Keys (one Cluster slot, so one MULTI writes an entry and the stamp together):
 * `<prefix>{denylist}:profile:<name>`, a set of `jti:<id>` and `sub:<id>` members, and
 * `<prefix>{denylist}:version`, a random stamp that every change replaces.
 */
import { randomBytes } from 'node:crypto';
import { GatewayError } from '../errors.js';
import type { RedisClient } from '../session/redis-client.js';

/** What an entry names. */
export type DenyKind = 'jti' | 'sub';

/** One entry of a profile's list. */
export interface DenyEntry {
  readonly profile: string;
  readonly kind: DenyKind;
  readonly value: string;
}

/** How often a replica reads the version stamp. */
export const DENY_LIST_POLL_MS = 1000;
/** How often a replica rereads the lists even when the stamp did not change. */
export const DENY_LIST_REREAD_MS = 30_000;
/** The longest `jti` or `sub` an entry may hold. */
export const MAX_DENY_VALUE_LENGTH = 1024;

/** The name under which the provider's own tokens (`bearer:provider`) have their list. */
export const PROVIDER_LIST = 'provider';

/** The lists a configuration has: one per named profile, and the provider's own when `bearer.provider` is on. */
export function denyListNames(bearer: { readonly profiles: Readonly<Record<string, unknown>>; readonly provider: boolean }): string[] {
  return [...Object.keys(bearer.profiles), ...(bearer.provider ? [PROVIDER_LIST] : [])];
}

/** The Redis keys of the lists. */
export function denyListKeys(prefix: string): { readonly version: string; list(profile: string): string } {
  return { version: `${prefix}{denylist}:version`, list: (profile) => `${prefix}{denylist}:profile:${profile}` };
}

/**
 * Why `value` cannot be an entry, or undefined when it can: not empty, at most
 * {@link MAX_DENY_VALUE_LENGTH} characters, no control characters (C0 or C1), line or paragraph separators,
 * or bidirectional controls, which would make `token revoked` print something other than the entry.
 */
export function denyValueProblem(value: string): string | undefined {
  if (value === '') return 'is empty';
  if (value.length > MAX_DENY_VALUE_LENGTH) return `is longer than ${MAX_DENY_VALUE_LENGTH} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(value)) return 'holds a control character';
  if (/[\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/.test(value)) return 'holds a line separator or a bidirectional control character';
  return undefined;
}

/** A profile's entries, split by kind. */
export interface Lists {
  readonly jti: ReadonlySet<string>;
  readonly sub: ReadonlySet<string>;
}

/** True when `lists` name the token's `jti` or `sub` (claims that are not strings name nothing). */
export function listsName(lists: Lists, jti: unknown, sub: unknown): boolean {
  return (typeof jti === 'string' && lists.jti.has(jti)) || (typeof sub === 'string' && lists.sub.has(sub));
}

function parseMembers(members: readonly string[]): Lists {
  const jti = new Set<string>();
  const sub = new Set<string>();
  for (const member of members) {
    // A member written by hand in another shape names nothing.
    if (member.startsWith('jti:')) jti.add(member.slice(4));
    else if (member.startsWith('sub:')) sub.add(member.slice(4));
  }
  return { jti, sub };
}

/**
 * A replica's copy of the lists, handed from one configuration to the next on a reload, so the new one
 * neither waits for Redis nor answers 503 when Redis is down at that moment.
 */
export interface DenyListCopy {
  /** The Redis deployment and key prefix it was read from: a copy seeds only a list of the same source. */
  readonly source: string;
  readonly lists: ReadonlyMap<string, Lists>;
  readonly version: string | null;
  readonly readAt: number;
}

/** What a replica's copy holds, for metrics and `/ready`. */
export interface DenyListState {
  readonly entries: ReadonlyMap<string, number>;
  readonly ageSeconds: number;
}

/** A replica's copy of the shared lists. */
export interface SharedDenyList {
  /**
   * True when the profile's list names the token's `jti` or `sub`.
   * @throws GatewayError `ERR_SESSION_STORE_UNAVAILABLE` until the lists have been read once.
   */
  denies(profile: string, jti: unknown, sub: unknown): boolean;
  /** Ready once the lists have been read; the detail says how many entries and how old the copy is. */
  status(): { ok: boolean; detail: string };
  /** Each profile's entries in the copy and how long ago Redis last answered; undefined before the first read. */
  state(): DenyListState | undefined;
  /** Reads the stamp, and the lists when it changed (or when `force`). Rejects when Redis does not answer or a list cannot be read. */
  refresh(force?: boolean): Promise<void>;
  /** Reads the lists now, then keeps the copy current until {@link close}. */
  start(): void;
  /** Resolves true once the lists have been read (or seeded), false after `timeoutMs` without. */
  firstRead(timeoutMs: number): Promise<boolean>;
  /** The current copy, for the next configuration's list; undefined before the first read. */
  copy(): DenyListCopy | undefined;
  close(): void;
}

/** Options of {@link createSharedDenyList}. */
export interface SharedDenyListOptions {
  readonly client: RedisClient;
  readonly keyPrefix: string;
  /** The named profiles: each has its own list. */
  readonly profiles: readonly string[];
  /** Called when a read fails (the caller rate-limits its log line). */
  readonly onError: (error: Error) => void;
  /** The Redis deployment and key prefix, as one string: what a {@link DenyListCopy} must match to seed. */
  readonly source?: string;
  /** The previous configuration's copy: used when its source and profiles match, until the first read. */
  readonly seed?: DenyListCopy | undefined;
  readonly now?: () => number;
  readonly pollMs?: number;
  readonly rereadMs?: number;
}

/** Creates a replica's copy of the lists (call `start`). */
export function createSharedDenyList(options: SharedDenyListOptions): SharedDenyList {
  const { client, profiles, onError } = options;
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? DENY_LIST_POLL_MS;
  const rereadMs = options.rereadMs ?? DENY_LIST_REREAD_MS;
  const keys = denyListKeys(options.keyPrefix);
  const source = options.source ?? options.keyPrefix;
  const { seed } = options;
  // A seed that lacks one of the profiles could miss that profile's entries: then no seed at all.
  const seeded = seed !== undefined && seed.source === source && profiles.every((profile) => seed.lists.has(profile));
  let copy: ReadonlyMap<string, Lists> | undefined = seeded ? seed.lists : undefined;
  let version: string | null | undefined = seeded ? seed.version : undefined;
  /** When the lists were last read in full, and when Redis last answered at all. */
  let readAt = seeded ? seed.readAt : 0;
  let seenAt = readAt;
  const waiting = new Set<(read: boolean) => void>();
  let lastError: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const read = async (): Promise<void> => {
    // The stamp and every list in one round trip; their keys share a slot, so a Cluster can answer it too.
    const pipeline = client.pipeline().get(keys.version);
    for (const profile of profiles) pipeline.smembers(keys.list(profile));
    const results = await pipeline.exec();
    if (results === null) throw new Error('the deny-list read was not answered');
    const [stampError, stamp] = results[0] ?? [new Error('the deny-list read was not answered'), null];
    if (stampError !== null) throw stampError;
    // Each list on its own: one that cannot be read (a key of another type, written by hand) keeps its
    // last copy, or stays unread, and does not hold back the others.
    const next = new Map<string, Lists>();
    const unreadable: string[] = [];
    profiles.forEach((profile, index) => {
      const [error, members] = results[index + 1] ?? [new Error('not answered'), null];
      if (error === null && Array.isArray(members)) {
        next.set(profile, parseMembers(members.filter((member): member is string => typeof member === 'string')));
        return;
      }
      unreadable.push(`${keys.list(profile)}: ${error?.message ?? 'not a set'}`);
      const previous = copy?.get(profile);
      if (previous !== undefined) next.set(profile, previous);
    });
    copy = next;
    seenAt = now();
    if (unreadable.length > 0) {
      // Not current: the next poll reads everything again.
      version = undefined;
      for (const wake of waiting) wake(true);
      throw new Error(`a deny-list could not be read (${unreadable.join('; ')})`);
    }
    version = typeof stamp === 'string' ? stamp : null;
    readAt = seenAt;
    for (const wake of waiting) wake(true);
  };

  const refresh = async (force = false): Promise<void> => {
    if (!force && copy !== undefined && version !== undefined && now() - readAt < rereadMs) {
      const stamp = await client.get(keys.version);
      if (stamp === version) {
        seenAt = now();
        return;
      }
    }
    await read();
  };

  let running = false;
  const tick = () => {
    if (running || closed) return;
    running = true;
    clearTimeout(timer);
    refresh()
      .then(
        () => {
          lastError = undefined;
        },
        (error: unknown) => {
          lastError = error instanceof Error ? error.message : String(error);
          // While the client is not connected, its own error handler reports why; this reports the rest.
          if (client.status === 'ready') onError(error instanceof Error ? error : new Error(lastError));
        },
      )
      .finally(() => {
        running = false;
        if (!closed) timer = setTimeout(tick, pollMs).unref();
      });
  };
  // The first read goes out as soon as the client connects, so checks wait for it as briefly as can be.
  const onReady = () => {
    if (copy === undefined) tick();
  };

  const state = (): DenyListState | undefined => {
    if (copy === undefined) return undefined;
    const entries = new Map<string, number>();
    for (const [profile, lists] of copy) entries.set(profile, lists.jti.size + lists.sub.size);
    return { entries, ageSeconds: Math.max(0, Math.round((now() - seenAt) / 1000)) };
  };

  const listed = new Set(profiles);
  return {
    denies(profile, jti, sub) {
      const lists = copy?.get(profile);
      // A profile's list that was never read: what it revokes is unknown, so nothing passes meanwhile.
      if (lists === undefined && (copy === undefined || listed.has(profile))) throw new GatewayError('ERR_SESSION_STORE_UNAVAILABLE', 'the bearer deny-list has not been read from Redis yet');
      return lists !== undefined && listsName(lists, jti, sub);
    },
    state,
    status() {
      const current = state();
      if (current === undefined) return { ok: false, detail: `not read from Redis yet${lastError === undefined ? '' : `: ${lastError}`}` };
      const unread = profiles.filter((profile) => !current.entries.has(profile));
      if (unread.length > 0) return { ok: false, detail: `the list of ${unread.join(', ')} has not been read${lastError === undefined ? '' : `: ${lastError}`}` };
      const { ageSeconds } = current;
      let entries = 0;
      for (const count of current.entries.values()) entries += count;
      return { ok: true, detail: `${entries} entr${entries === 1 ? 'y' : 'ies'}, current as of ${ageSeconds}s ago${lastError === undefined ? '' : `; last read failed: ${lastError}`}` };
    },
    refresh,
    start() {
      if (timer !== undefined || running || closed) return;
      client.on('ready', onReady);
      tick();
    },
    firstRead(timeoutMs) {
      if (copy !== undefined) return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = (read: boolean) => {
          clearTimeout(timeout);
          waiting.delete(done);
          resolve(read);
        };
        const timeout = setTimeout(() => done(false), timeoutMs);
        waiting.add(done);
      });
    },
    copy() {
      return copy === undefined ? undefined : { source, lists: copy, version: version ?? null, readAt };
    },
    close() {
      closed = true;
      clearTimeout(timer);
      client.off('ready', onReady);
      for (const wake of waiting) wake(false);
    },
  };
}

/** Reads every entry of the given profiles' lists (for `gatehouse token revoked`). */
export async function listDenyEntries(client: RedisClient, keyPrefix: string, profiles: readonly string[]): Promise<DenyEntry[]> {
  const keys = denyListKeys(keyPrefix);
  const entries: DenyEntry[] = [];
  for (const profile of profiles) {
    const lists = parseMembers(await client.smembers(keys.list(profile)));
    for (const value of [...lists.jti].sort()) entries.push({ profile, kind: 'jti', value });
    for (const value of [...lists.sub].sort()) entries.push({ profile, kind: 'sub', value });
  }
  return entries;
}

/**
 * Adds an entry to a profile's list, or removes it, and replaces the stamp in the same transaction.
 * @returns true when the list changed (false: it already held the entry, or did not).
 */
export async function changeDenyEntry(client: RedisClient, keyPrefix: string, entry: DenyEntry, change: 'add' | 'remove'): Promise<boolean> {
  const problem = denyValueProblem(entry.value);
  if (problem !== undefined) throw new TypeError(`the ${entry.kind} ${problem}`);
  const keys = denyListKeys(keyPrefix);
  const member = `${entry.kind}:${entry.value}`;
  const list = keys.list(entry.profile);
  const transaction = change === 'add' ? client.multi().sadd(list, member) : client.multi().srem(list, member);
  const results = await transaction.set(keys.version, randomBytes(16).toString('base64url')).exec();
  const failed = results?.find(([error]) => error !== null);
  if (results === null || failed !== undefined) throw (failed?.[0] ?? new Error('the deny-list change was not answered'));
  return results[0]?.[1] === 1;
}
