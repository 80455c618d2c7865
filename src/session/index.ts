export { createCookieStore, sessionBinding, type CookieStoreOptions } from './cookie-store.js';
export { createLoginTransactions, MAX_TRANSACTIONS, type LoginTransaction, type LoginTransactions, type ReturnToReplaced } from './login-transaction.js';
export { encodeSession, decodeSession, type Session } from './session.js';
export type { SessionStore, LoadResult } from './store.js';
export { GenerationalCache, remembered } from './cache.js';
export { parseCookies, serializeCookie, chooseCookieDomain, readChunkedCookie, writeChunkedCookie, clearChunkedCookie, MAX_COOKIES, MAX_CHUNKS, COOKIE_BUDGET, type CookieJar, type CookieAttributes, type ChunkedRead } from './cookies.js';
export { createRedisStore, storeUnavailable, type RedisSessionStore, type RedisStoreOptions, type SessionSummary } from './redis-store.js';
export { createRedisClient, quitClient, redisOptions, REDIS_COMMAND_TIMEOUT_MS, type RedisClient } from './redis-client.js';
