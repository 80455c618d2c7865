/**
 * Browser single sign-on with real Caddy (`forward_auth`) in front of gatehouse: the recipe of
 * docs/proxies/caddy.md, headless Chromium, and the development OpenID Provider.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { CADDY_DOC_VALUES, CADDY_TEMPLATE } from './support/caddy.js';
import { documentedBlock, renderTemplate } from './support/docs.js';
import { GATEHOUSE_YAML } from './support/gatehouse.js';
import { describeSingleSignOn } from './support/single-sign-on.js';

test('docs/proxies/caddy.md shows the gatehouse.yaml and Caddyfile these tests run', () => {
  assert.equal(documentedBlock('proxies/caddy.md', 'gatehouse-config'), GATEHOUSE_YAML);
  assert.equal(documentedBlock('proxies/caddy.md', 'caddy-sites'), renderTemplate(CADDY_TEMPLATE, CADDY_DOC_VALUES));
});

if (existsSync('/usr/bin/caddy') && existsSync('/usr/bin/chromium')) {
  // Caddy drops Set-Cookie from an allowed check, so a refreshed cookie comes with a redirect.
  describeSingleSignOn('caddy', { refreshDelivery: 'redirect' });
} else {
  test('browser single sign-on through caddy', () => {
    // The end-to-end suite needs real parts; .ci/run installs them. A missing one fails, never skips.
    assert.fail('needs /usr/bin/caddy and /usr/bin/chromium');
  });
}
