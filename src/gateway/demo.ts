/** The development demo page: what a protected application would see, shown to the signed-in person. */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Identity } from '../identity/index.js';
import { escapeHtml } from '../pages/index.js';
import { page, withHeaders } from './answers.js';
import type { GatewayRequest, Verdict } from './types.js';

/** Renders the demo application page for an allowed request. */
export function renderDemo(request: GatewayRequest, identity: Identity, headers: OutgoingHttpHeaders): Verdict {
  const rows = Object.entries(headers)
    .filter(([name]) => name !== 'set-cookie')
    .map(([name, value]) => {
      const shown = name === 'authorization' && typeof value === 'string' && value.length > 20 ? `${value.slice(0, 20)}…` : String(value);
      return `<dt><code>${escapeHtml(name)}</code></dt><dd><code>${escapeHtml(shown)}</code></dd>`;
    })
    .join('');
  const groups = identity.groups.length === 0 ? 'none' : identity.groups.join(', ');
  const body = `<div class="banner">Development mode: this demo page stands in for your application.</div>
<h1>You are signed in</h1><p>gatehouse let this request through. An application behind your proxy would receive these identity headers:</p>
<dl><dt>Email</dt><dd>${escapeHtml(identity.email)}</dd><dt>Groups</dt><dd>${escapeHtml(groups)}</dd><dt>Page</dt><dd><code>${escapeHtml(request.view.uri)}</code></dd></dl>
<dl>${rows}</dl>${'x-auth-request-email' in headers ? '' : '<p>Set <code>identityHeaders.xAuthRequest: true</code> to also send <code>X-Auth-Request-User</code>, <code>-Email</code>, <code>-Groups</code> and <code>-Preferred-Username</code>.</p>'}
<a class="button" href="/oauth2/sign_out?rd=%2F">Sign out</a>`;
  const verdict = page(200, 'gatehouse demo', body, 'allow', 'session-valid', request.requestId, { 'cache-control': 'no-store' });
  const cookies = headers['set-cookie'];
  return cookies === undefined ? verdict : withHeaders(verdict, { 'set-cookie': cookies });
}
