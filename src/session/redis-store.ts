/**
 * The Redis session store: the cookie holds only an opaque ticket, `r1.<id>.<key>`, a random id and a
 * random per-session key; Redis holds the session encrypted with that key (AES-256-GCM, the id and the
 * deployment bound as associated data), so someone who can read Redis but not the cookie learns nothing.
 * A fresh ticket on every login (no fixation), the TTL is the session's lifetime, sign-out deletes it.
 * Every replica sees the same sessions; a lease lock in Redis lets exactly one refresh a session at a time.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { GenerationalCache } from './cache.js';
import { clearChunkedCookie, readChunkedCookie, serializeCookie } from './cookies.js';
import { createBatchedReader, quitClient, type RedisClient } from './redis-client.js';
import { decodeSession, encodeSession, type Session } from './session.js';
import type { LoadResult, SessionStore } from './store.js';

/** A ticket's shape, checked before any Redis call (SESS-10: no key injection, no wildcard). */
const TICKET = /^r1\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

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
  /** Takes the refresh lease of a session; true when this replica holds it now. */
  lock(handle: string, ttlMs: number): Promise<boolean>;
  unlock(handle: string): Promise<void>;
  /** Loads the current state of a session by its ticket (after another replica refreshed it). */
  reload(handle: string, nowSeconds: number): Promise<LoadResult>;
  /** Sessions of a user, by email or subject (who they belong to is what was asked). */
  list(by: { email?: string; sub?: string }): Promise<SessionSummary[]>;
  /** Ends every session of a user; returns how many. */
  revoke(by: { email?: string; sub?: string }): Promise<number>;
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

function indexKey(prefix: string, kind: 'email' | 'sub', value: string): string {
  // Index keys name the user by a hash, not in clear.
  return `${prefix}${kind}:${createHash('sha256').update(kind === 'email' ? value.toLowerCase() : value).digest('base64url')}`;
}

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
    const body = Buffer.concat([cipher.update(encodeSession(session)), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64');
  };

  const open = (id: string, key: Buffer, stored: string): Session | undefined => {
    const bytes = Buffer.from(stored, 'base64');
    if (bytes.length < 28) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12), { authTagLength: 16 });
      decipher.setAAD(aad(id));
      decipher.setAuthTag(bytes.subarray(bytes.length - 16));
      return decodeSession(Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]));
    } catch {
      return undefined;
    }
  };

  const parseTicket = (handle: string): Ticket | undefined => {
    const match = TICKET.exec(handle);
    if (match === null) return undefined;
    return { id: match[1] ?? '', key: Buffer.from(match[2] ?? '', 'base64url') };
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

  const write = async (id: string, key: Buffer, session: Session): Promise<void> => {
    const ttl = Math.max(1, session.expiresAt - Math.floor(options.now() / 1000));
    // Only times: who the session belongs to is in the encrypted value and, hashed, in the index keys.
    const meta = JSON.stringify({ createdAt: session.createdAt, expiresAt: session.expiresAt });
    try {
      const results = await client.multi().set(sessionKey(id), seal(id, key, session), 'EX', ttl).set(metaKey(id), meta, 'EX', ttl).exec();
      const failed = results?.find(([error]) => error !== null);
      if (results === null || failed !== undefined) throw failed?.[0] ?? new Error('transaction aborted');
      // Index sets live in their own slots; each lasts as long as its longest session (NX sets a first
      // TTL, GT only ever lengthens it).
      const indexes = [session.identity.email === '' ? undefined : indexKey(prefix, 'email', session.identity.email), session.identity.sub === '' ? undefined : indexKey(prefix, 'sub', session.identity.sub)];
      for (const index of indexes) {
        if (index === undefined) continue;
        await client.sadd(index, id);
        await client.expire(index, ttl, 'NX');
        await client.expire(index, ttl, 'GT');
      }
    } catch (error) {
      throw storeUnavailable(error);
    }
  };

  const remove = async (ids: readonly string[]): Promise<void> => {
    if (ids.length === 0) return;
    try {
      await Promise.all(ids.map((id) => client.del(sessionKey(id), metaKey(id))));
    } catch (error) {
      throw storeUnavailable(error);
    }
  };

  const summaries = async (by: { email?: string; sub?: string }): Promise<{ key: string; ids: string[] }> => {
    const key = by.email !== undefined ? indexKey(prefix, 'email', by.email) : indexKey(prefix, 'sub', by.sub ?? '');
    try {
      return { key, ids: await client.smembers(key) };
    } catch (error) {
      throw storeUnavailable(error);
    }
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
      // A refresh of the session this request holds keeps its ticket; anything else gets a new one, so a
      // planted ticket is never promoted into a signed-in session (SESS-07).
      const read = readChunkedCookie(cookieName, jar);
      const current = read.kind === 'value' ? parseTicket(read.value) : undefined;
      if (current !== undefined && session.createdAt !== session.refreshedAt) {
        const existing = await client.get(sessionKey(current.id)).catch((error: unknown) => {
          throw storeUnavailable(error);
        });
        const previous = existing === null ? undefined : open(current.id, current.key, existing);
        if (previous !== undefined && previous.identity.sub === session.identity.sub && previous.createdAt === session.createdAt) {
          await write(current.id, current.key, session);
          return [];
        }
      }
      const id = randomBytes(16).toString('base64url');
      const key = randomBytes(32);
      await write(id, key, session);
      const ticket = `r1.${id}.${key.toString('base64url')}`;
      const cookies = [serializeCookie(cookieName, ticket, attributes)];
      for (let index = 0; index < 8; index += 1) if (jar.has(`${cookieName}_${index}`)) cookies.push(serializeCookie(`${cookieName}_${index}`, '', { ...attributes, maxAge: 0 }));
      return cookies;
    },
    async clear(jar, attributes) {
      const read = readChunkedCookie(cookieName, jar);
      const ticket = read.kind === 'value' ? parseTicket(read.value) : undefined;
      if (ticket !== undefined) await remove([ticket.id]);
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
      const { ids } = await summaries(by);
      if (ids.length === 0) return [];
      let metas: (string | null)[];
      try {
        metas = await Promise.all(ids.map((id) => client.get(metaKey(id))));
      } catch (error) {
        throw storeUnavailable(error);
      }
      return ids.flatMap((id, index) => {
        const meta = metas[index];
        if (meta === null || meta === undefined) return [];
        const parsed = JSON.parse(meta) as { createdAt: number; expiresAt: number };
        return [{ id: id.slice(0, 8), email: by.email?.toLowerCase() ?? '', sub: by.sub ?? '', createdAt: parsed.createdAt, expiresAt: parsed.expiresAt }];
      });
    },
    async revoke(by) {
      const { key, ids } = await summaries(by);
      if (ids.length === 0) return 0;
      let existing: number;
      try {
        existing = (await Promise.all(ids.map((id) => client.exists(sessionKey(id))))).reduce((sum, count) => sum + count, 0);
        await remove(ids);
        await client.del(key);
      } catch (error) {
        throw storeUnavailable(error);
      }
      return existing;
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
