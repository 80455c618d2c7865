/**
 * The Redis session store: the cookie holds only an opaque ticket, `r1.<id>.<key>`, a random id and a
 * random per-session key; Redis holds the session encrypted with that key (AES-256-GCM, the id and the
 * deployment bound as associated data, the cookie name inside the sealed value), so someone who can read
 * Redis but not the cookie learns nothing. A fresh ticket on every login (no fixation), the TTL is the
 * session's lifetime, sign-out deletes what the ticket opens. Every replica sees the same sessions; a lease
 * lock in Redis lets exactly one refresh a session at a time.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { GenerationalCache } from './cache.js';
import { clearChunkedCookie, readChunkedCookie, serializeCookie, type CookieJar } from './cookies.js';
import { createBatchedReader, quitClient, type RedisClient } from './redis-client.js';
import { decodeBoundSession, encodeSession, type Session } from './session.js';
import type { LoadResult, SessionStore } from './store.js';

/**
 * A ticket's shape, checked before any Redis call (SESS-10: no key injection, no wildcard). The id and the
 * key must also be the canonical base64url spelling of their bytes (see `parseTicket`).
 */
const TICKET = /^r1\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

/** An index set larger than this is pruned of ended sessions when a login adds to it. */
const INDEX_PRUNE_SIZE = 32;

/**
 * Rewrites a session that still exists (a refresh), its value and its times together: a session that was
 * signed out or revoked meanwhile stays gone. KEYS: session, meta; ARGV: value, meta, ttl seconds.
 */
const REWRITE_SCRIPT = `if redis.call('exists', KEYS[1]) == 0 then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('set', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1`;

/**
 * Adds a session id to an index set and makes the set last at least as long as that session (never
 * shorter than it already does); works on Redis before 7.0 too. KEYS: index; ARGV: id, ttl seconds.
 */
const INDEX_SCRIPT = `redis.call('sadd', KEYS[1], ARGV[1])
local ttl = redis.call('ttl', KEYS[1])
if ttl < tonumber(ARGV[2]) then redis.call('expire', KEYS[1], ARGV[2]) end
return redis.call('scard', KEYS[1])`;

/**
 * Session times as stored beside it, whether it is listed under its provider session (`ps`) and its
 * subject's hash then (`su`), or undefined for a value that is not what gatehouse writes.
 */
function parseMeta(text: string): { createdAt: number; expiresAt: number; providerSession: boolean; subject: string | undefined } | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    const { createdAt, expiresAt, ps, su } = value as Record<string, unknown>;
    return typeof createdAt === 'number' && typeof expiresAt === 'number' ? { createdAt, expiresAt, providerSession: ps === 1, subject: typeof su === 'string' ? su : undefined } : undefined;
  } catch {
    return undefined;
  }
}

/** What an operator sees of a session: never a token. */
export interface SessionSummary {
  readonly id: string;
  readonly email: string;
  readonly sub: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** The Redis store, with the operator commands. */
export interface RedisSessionStore extends SessionStore {
  readonly kind: 'redis';
  /** A refresh: see {@link SessionStore.replace}. `save` always stores a new session under a new ticket. */
  readonly replace: NonNullable<SessionStore['replace']>;
  /** Takes the refresh lease of a session; true when this replica holds it now. */
  lock(handle: string, ttlMs: number): Promise<boolean>;
  unlock(handle: string): Promise<void>;
  /** Loads the current state of a session by its ticket (after another replica refreshed it). */
  reload(handle: string, nowSeconds: number): Promise<LoadResult>;
  /** Sessions of a user, by email or subject (who they belong to is what was asked). */
  list(by: { email?: string; sub?: string }): Promise<SessionSummary[]>;
  /** Ends every session of a user; returns how many. */
  revoke(by: { email?: string; sub?: string }): Promise<number>;
  /**
   * Ends the sessions a back-channel logout names; returns how many. With `sid`: the sessions signed in
   * with that provider session, and the sessions of `sub` (when given) that recorded none (signed in
   * before gatehouse kept it, or with an ID token without `sid`), which may belong to it. Without: every
   * session of `sub`.
   */
  endProviderSession(by: { sub?: string; sid?: string }): Promise<number>;
}

/** Options of the Redis store. */
export interface RedisStoreOptions {
  readonly client: RedisClient;
  readonly cookieName: string;
  readonly keyPrefix: string;
  /** The deployment's issuer and client id (see `sessionBinding`). */
  readonly binding: string;
  readonly now: () => number;
}

/** A parsed ticket: the session's id and its key. */
interface Ticket {
  readonly id: string;
  readonly key: Buffer;
}

/** A user or provider session named by a hash, not in clear (index keys, marks beside sessions). */
function hashOf(kind: 'email' | 'sub' | 'sid', value: string): string {
  return createHash('sha256').update(kind === 'email' ? value.toLowerCase() : value).digest('base64url');
}

function indexKey(prefix: string, kind: 'email' | 'sub' | 'sid', value: string): string {
  return `${prefix}${kind}:${hashOf(kind, value)}`;
}

/**
 * How long a back-channel logout is remembered for the logins it may cross: a login whose code was
 * redeemed before the logout but whose session is saved after it. Far longer than any callback takes.
 */
const ENDED_MARK_SECONDS = 600;

/** The error of a Redis operation that did not answer: checks that needed it are answered 503. */
export function storeUnavailable(error: unknown): GatewayError {
  return new GatewayError('ERR_SESSION_STORE_UNAVAILABLE', `the Redis session store did not answer: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

/** Creates the Redis store. */
export function createRedisStore(options: RedisStoreOptions): RedisSessionStore {
  const { client, keyPrefix: prefix, cookieName } = options;
  // A session's keys share a hash tag, so they live in one Cluster slot and one MULTI can write them.
  const sessionKey = (id: string) => `${prefix}{${id}}:session`;
  const metaKey = (id: string) => `${prefix}{${id}}:meta`;
  const lockKey = (id: string) => `${prefix}{${id}}:lock`;
  const aad = (id: string) => Buffer.from(`gatehouse:redis:v1:${id}:${options.binding}`, 'utf8');
  const locks = new Map<string, string>();
  // Opened sessions by ticket, with the stored text they came from: a check still reads Redis every time
  // (sign-out and revocation take effect at once), but skips the decryption and decoding when the stored
  // text is the one this ticket already opened.
  const opened = new GenerationalCache<{ ticket: Ticket; stored: string; session: Session }>(10_000);
  const readValue = createBatchedReader(client);

  const seal = (id: string, key: Buffer, session: Session): string => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(aad(id));
    // The cookie name is sealed into the value (SESS-03): a ticket moved to another deployment's cookie on
    // the same Redis and prefix does not open there. Inside the value rather than in the associated data, so
    // replicas of the version before, which ignore it, still open the sessions this one writes.
    const body = Buffer.concat([cipher.update(encodeSession(session, cookieName)), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64');
  };

  const open = (id: string, key: Buffer, stored: string): Session | undefined => {
    const bytes = Buffer.from(stored, 'base64');
    if (bytes.length < 28) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12), { authTagLength: 16 });
      decipher.setAAD(aad(id));
      decipher.setAuthTag(bytes.subarray(bytes.length - 16));
      const bound = decodeBoundSession(Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]));
      // A session sealed without a cookie name was saved by an earlier version: it opens under any name until
      // it ends or is refreshed (then sealed with the name), so an upgrade signs nobody out.
      if (bound === undefined || (bound.cookieName !== undefined && bound.cookieName !== cookieName)) return undefined;
      return bound.session;
    } catch {
      return undefined;
    }
  };

  const parseTicket = (handle: string): Ticket | undefined => {
    const match = TICKET.exec(handle);
    if (match === null) return undefined;
    const [, id = '', key = ''] = match;
    const keyBytes = Buffer.from(key, 'base64url');
    // Only the canonical spelling: the spare low bits of the last character would give one ticket several
    // cookie texts (and the id several Redis keys).
    if (keyBytes.toString('base64url') !== key || Buffer.from(id, 'base64url').toString('base64url') !== id) return undefined;
    return { id, key: keyBytes };
  };

  const loadTicket = async (handle: string, nowSeconds: number): Promise<LoadResult> => {
    // A ticket opened before was well-formed then: only its value is read again.
    const known = opened.get(handle);
    const ticket = known?.ticket ?? parseTicket(handle);
    if (ticket === undefined) return { kind: 'invalid', reason: 'session-cookie-invalid' };
    let stored: string | null;
    try {
      stored = await readValue(sessionKey(ticket.id));
    } catch (error) {
      throw storeUnavailable(error);
    }
    // Gone: signed out, revoked, expired, or Redis lost its data. A new login, never an error.
    if (stored === null) return { kind: 'invalid', reason: 'session-not-found' };
    const session = known !== undefined && known.stored === stored ? known.session : open(ticket.id, ticket.key, stored);
    if (session === undefined) return { kind: 'invalid', reason: 'session-cookie-invalid' };
    if (known?.session !== session) opened.set(handle, { ticket, stored, session });
    if (session.expiresAt <= nowSeconds) return { kind: 'invalid', reason: 'session-expired' };
    return { kind: 'session', session, handle, stale: false };
  };

  /**
   * The well-formed tickets a request presents: every value of the cookie, and its chunks joined as a load
   * reads them. At most one per cookie the header parser keeps, so a flood costs bounded work.
   */
  const presentedTickets = (jar: CookieJar): Ticket[] => {
    const texts = new Set(jar.get(cookieName) ?? []);
    const chunks = readChunkedCookie(cookieName, new Map([...jar].filter(([name]) => name !== cookieName)));
    if (chunks.kind === 'value') texts.add(chunks.value);
    return [...texts].flatMap((text) => parseTicket(text) ?? []);
  };

  /** The index sets a session is listed in (hashed email, subject and provider session). */
  const indexesOf = (session: Session): string[] => [
    ...(session.identity.email === '' ? [] : [indexKey(prefix, 'email', session.identity.email)]),
    ...(session.identity.sub === '' ? [] : [indexKey(prefix, 'sub', session.identity.sub)]),
    ...(session.providerSid === undefined ? [] : [indexKey(prefix, 'sid', session.providerSid)]),
  ];

  /** Drops the ids of sessions that have ended (expired, signed out) from an index set; returns the live ones. */
  const prune = async (index: string, ids: readonly string[]): Promise<string[]> => {
    if (ids.length === 0) return [];
    const alive = await Promise.all(ids.map((id) => client.exists(sessionKey(id))));
    const ended = ids.filter((_, at) => alive[at] === 0);
    if (ended.length > 0) await client.srem(index, ...ended);
    return ids.filter((_, at) => alive[at] !== 0);
  };

  /**
   * Writes a session and lists it in its index sets. `onlyIfPresent` (a refresh): only while the session
   * still exists; false when it was signed out or revoked meanwhile.
   */
  const write = async (id: string, key: Buffer, session: Session, onlyIfPresent = false): Promise<boolean> => {
    const ttl = Math.max(1, session.expiresAt - Math.floor(options.now() / 1000));
    // Times, and nothing in clear about whom: who the session belongs to is in the encrypted value and,
    // hashed, in the index keys. A session listed under its provider session also carries its subject's
    // hash, so a logout naming a sid and a sub ends only that subject's sessions.
    const meta = JSON.stringify({ createdAt: session.createdAt, expiresAt: session.expiresAt, ...(session.providerSid === undefined ? {} : { ps: 1, su: hashOf('sub', session.identity.sub) }) });
    try {
      if (onlyIfPresent) {
        const written = await client.eval(REWRITE_SCRIPT, 2, sessionKey(id), metaKey(id), seal(id, key, session), meta, ttl);
        if (written !== 1) return false;
      } else {
        const results = await client.multi().set(sessionKey(id), seal(id, key, session), 'EX', ttl).set(metaKey(id), meta, 'EX', ttl).exec();
        const failed = results?.find(([error]) => error !== null);
        if (results === null || failed !== undefined) throw failed?.[0] ?? new Error('transaction aborted');
      }
      // Index sets live in their own slots; each lasts as long as its longest session. A set that has
      // grown is pruned of the sessions that ended, so a user who signs in often does not grow it forever.
      for (const index of indexesOf(session)) {
        const size = await client.eval(INDEX_SCRIPT, 1, index, id, ttl);
        if (typeof size === 'number' && size > INDEX_PRUNE_SIZE) await prune(index, await client.smembers(index));
      }
      return true;
    } catch (error) {
      throw storeUnavailable(error);
    }
  };

  /** Deletes sessions, and takes them out of the index sets named (when known). */
  const remove = async (ids: readonly string[], indexes: readonly string[] = []): Promise<void> => {
    if (ids.length === 0) return;
    try {
      await Promise.all(ids.map((id) => client.del(sessionKey(id), metaKey(id))));
      // Only the ids removed: an id a login added meanwhile stays listed (and revocable).
      await Promise.all(indexes.map((index) => client.srem(index, ...ids)));
    } catch (error) {
      throw storeUnavailable(error);
    }
  };

  /** The mark a back-channel logout leaves for a subject or provider session (its time, Unix seconds). */
  const endedKey = (kind: 'sub' | 'sid', value: string) => `${prefix}ended:${kind}:${hashOf(kind, value)}`;

  /**
   * True when a back-channel logout ended this new session's provider session, or its subject after the
   * second the login began: its code was redeemed before the logout, and it would outlive it otherwise. (A
   * logout by subject in the very second the login began is not told from a new login just after it, which
   * must work; a provider session id is exact.)
   */
  const endedMeanwhile = async (session: Session): Promise<boolean> => {
    // Read one by one: the two keys live in different Cluster slots.
    const [bySid, bySub] = await Promise.all([session.providerSid === undefined ? null : client.get(endedKey('sid', session.providerSid)), client.get(endedKey('sub', session.identity.sub))]);
    return bySid !== null || (bySub !== null && Number(bySub) > session.createdAt);
  };

  const summaries = async (by: { email?: string; sub?: string; sid?: string }): Promise<{ key: string; ids: string[] }> => {
    const key = by.email !== undefined ? indexKey(prefix, 'email', by.email) : by.sid !== undefined ? indexKey(prefix, 'sid', by.sid) : indexKey(prefix, 'sub', by.sub ?? '');
    try {
      return { key, ids: await client.smembers(key) };
    } catch (error) {
      throw storeUnavailable(error);
    }
  };

  /**
   * Ends the sessions listed in an index set (those whose meta `pick` accepts, when given: an unreadable
   * meta counts as undefined); returns how many were alive.
   */
  const revokeListed = async (by: { email?: string; sub?: string; sid?: string }, pick?: (meta: ReturnType<typeof parseMeta>) => boolean): Promise<number> => {
    const { key, ids } = await summaries(by);
    if (ids.length === 0) return 0;
    let alive: string[];
    let chosen = ids;
    try {
      alive = await prune(key, ids);
      if (pick !== undefined) {
        const metas = await Promise.all(alive.map((id) => client.get(metaKey(id))));
        chosen = alive.filter((_, index) => pick(parseMeta(metas[index] ?? '')));
        alive = chosen;
      }
    } catch (error) {
      throw storeUnavailable(error);
    }
    // Only the ids read are taken out of the set: a login that lands meanwhile stays listed.
    await remove(chosen, [key]);
    return alive.length;
  };

  const store: RedisSessionStore = {
    kind: 'redis',
    load(jar, nowSeconds) {
      const read = readChunkedCookie(cookieName, jar);
      if (read.kind === 'absent') return Promise.resolve({ kind: 'none' });
      if (read.kind === 'ambiguous') return Promise.resolve({ kind: 'invalid', reason: 'session-cookie-ambiguous' });
      return loadTicket(read.value, nowSeconds);
    },
    reload: loadTicket,
    async save(session, jar, attributes) {
      // A login gets a new ticket, so a planted ticket is never promoted into a signed-in session (SESS-07).
      // A refresh never comes here (see `replace`), whatever its times say.
      const id = randomBytes(16).toString('base64url');
      const key = randomBytes(32);
      await write(id, key, session);
      // Written (and listed) first, then checked: a back-channel logout marks first and ends what is listed
      // after, so one of the two always sees the other.
      let ended: boolean;
      try {
        ended = await endedMeanwhile(session);
      } catch (error) {
        await remove([id], indexesOf(session)).catch(() => undefined);
        throw storeUnavailable(error);
      }
      if (ended) {
        await remove([id], indexesOf(session));
        throw new GatewayError('ERR_SESSION_ENDED', 'the provider ended this session while the login was completing (back-channel logout)');
      }
      const ticket = `r1.${id}.${key.toString('base64url')}`;
      const cookies = [serializeCookie(cookieName, ticket, attributes)];
      for (let index = 0; index < 8; index += 1) if (jar.has(`${cookieName}_${index}`)) cookies.push(serializeCookie(`${cookieName}_${index}`, '', { ...attributes, maxAge: 0 }));
      return cookies;
    },
    async replace(session, jar) {
      // A refresh rewrites the session this request holds, under its ticket, and only while it still exists:
      // a session signed out or revoked while its refresh ran stays over (never a new ticket). The ticket must
      // open the session, and it must be the same login (subject and login time) that was refreshed.
      const read = readChunkedCookie(cookieName, jar);
      const current = read.kind === 'value' ? parseTicket(read.value) : undefined;
      const existing =
        current === undefined
          ? null
          : await client.get(sessionKey(current.id)).catch((error: unknown) => {
              throw storeUnavailable(error);
            });
      const previous = current === undefined || existing === null ? undefined : open(current.id, current.key, existing);
      if (current === undefined || previous === undefined || previous.identity.sub !== session.identity.sub || previous.createdAt !== session.createdAt || !(await write(current.id, current.key, session, true))) {
        throw new GatewayError('ERR_SESSION_ENDED', 'the session ended while it was being refreshed');
      }
      return [];
    },
    async clear(jar, attributes) {
      // Every ticket the request presents, a cookie tossed in beside the browser's own included (a load
      // refuses that jar as ambiguous, but a sign-out must still end the real session). Each is deleted only
      // when its key opens the stored value, as a load would: the id alone (the name of a Redis key) proves
      // nothing, and a ticket that does not open deletes nothing.
      const tickets = presentedTickets(jar);
      let stored: (string | null)[];
      try {
        stored = await Promise.all(tickets.map((ticket) => client.get(sessionKey(ticket.id))));
      } catch (error) {
        throw storeUnavailable(error);
      }
      for (const [index, ticket] of tickets.entries()) {
        const value = stored[index] ?? null;
        const session = value === null ? undefined : open(ticket.id, ticket.key, value);
        if (session === undefined) continue;
        // Who it belonged to is in the encrypted value: the id leaves the index sets too.
        await remove([ticket.id], indexesOf(session));
      }
      return clearChunkedCookie(cookieName, attributes, jar);
    },
    async lock(handle, ttlMs) {
      const ticket = parseTicket(handle);
      if (ticket === undefined) return false;
      const token = randomBytes(12).toString('base64url');
      try {
        const taken = await client.set(lockKey(ticket.id), token, 'PX', ttlMs, 'NX');
        if (taken === 'OK') locks.set(ticket.id, token);
        return taken === 'OK';
      } catch (error) {
        throw storeUnavailable(error);
      }
    },
    async unlock(handle) {
      const ticket = parseTicket(handle);
      const token = ticket === undefined ? undefined : locks.get(ticket.id);
      if (ticket === undefined || token === undefined) return;
      locks.delete(ticket.id);
      // Delete only our own lease: it may have expired and been taken by another replica.
      await client.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end", 1, lockKey(ticket.id), token).catch(() => undefined);
    },
    async list(by) {
      const { key, ids } = await summaries(by);
      let metas: (string | null)[];
      try {
        const alive = await prune(key, ids);
        metas = await Promise.all(alive.map((id) => client.get(metaKey(id))));
        return alive.flatMap((id, index) => {
          const meta = parseMeta(metas[index] ?? '');
          // A value gatehouse did not write is shown without times rather than failing the whole list.
          return [{ id: id.slice(0, 8), email: by.email?.toLowerCase() ?? '', sub: by.sub ?? '', createdAt: meta?.createdAt ?? 0, expiresAt: meta?.expiresAt ?? 0 }];
        });
      } catch (error) {
        throw storeUnavailable(error);
      }
    },
    revoke: (by) => revokeListed(by),
    async endProviderSession(by) {
      // Marked first, then ended: a login that saves its session meanwhile finds the mark (see save).
      const nowSeconds = Math.floor(options.now() / 1000);
      try {
        // One by one: the marks live in different Cluster slots, which one transaction cannot span.
        if (by.sid !== undefined) await client.set(endedKey('sid', by.sid), String(nowSeconds), 'EX', ENDED_MARK_SECONDS);
        if (by.sub !== undefined) await client.set(endedKey('sub', by.sub), String(nowSeconds), 'EX', ENDED_MARK_SECONDS);
      } catch (error) {
        throw storeUnavailable(error);
      }
      if (by.sid === undefined) return by.sub === undefined ? 0 : revokeListed({ sub: by.sub });
      const subject = by.sub === undefined ? undefined : hashOf('sub', by.sub);
      const ended = await revokeListed({ sid: by.sid }, (meta) => subject === undefined || meta?.subject === undefined || meta.subject === subject);
      return subject === undefined ? ended : ended + (await revokeListed({ sub: by.sub ?? '' }, (meta) => meta?.providerSession !== true));
    },
    async ready() {
      try {
        await client.ping();
        return { ok: true, detail: 'redis answers' };
      } catch (error) {
        return { ok: false, detail: `redis: ${error instanceof Error ? error.message : String(error)}` };
      }
    },
    async close() {
      opened.clear();
      // A server that is gone or failing over must not hold up a shutdown.
      await quitClient(client);
    },
  };
  return store;
}
