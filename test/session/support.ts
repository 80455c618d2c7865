/** Helpers shared by the session store suites. */
import type { CookieJar } from '../../src/session/cookies.js';

/** The browser's jar after `setCookies` (Max-Age=0 deletes). */
export function applyCookies(setCookies: readonly string[], start: CookieJar = new Map()): CookieJar {
  const jar: CookieJar = new Map([...start].map(([name, values]) => [name, [...values]]));
  for (const setCookie of setCookies) {
    const pair = setCookie.split(';')[0] ?? '';
    const eq = pair.indexOf('=');
    if (/;\s*Max-Age=0(;|$)/i.test(setCookie)) jar.delete(pair.slice(0, eq));
    else jar.set(pair.slice(0, eq), [pair.slice(eq + 1)]);
  }
  return jar;
}
