/**
 * Browser single sign-on with real nginx (`auth_request`) in front of gatehouse: the recipe of
 * docs/proxies/nginx.md, headless Chromium, and the development OpenID Provider. TLS comes from a CA made
 * with the openssl command line for this run only.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { documentedBlock, renderTemplate } from './support/docs.js';
import { GATEHOUSE_YAML } from './support/gatehouse.js';
import { NGINX_DOC_VALUES, NGINX_LOCATION_SNIPPET, NGINX_SERVER_SNIPPET, NGINX_SITES_TEMPLATE } from './support/nginx.js';
import { describeSingleSignOn } from './support/single-sign-on.js';
import { hasOpenssl } from './support/tls.js';

test('docs/proxies/nginx.md shows the gatehouse.yaml and nginx configuration these tests run', () => {
  assert.equal(documentedBlock('proxies/nginx.md', 'gatehouse-config'), GATEHOUSE_YAML);
  assert.equal(documentedBlock('proxies/nginx.md', 'nginx-server-snippet'), NGINX_SERVER_SNIPPET);
  assert.equal(documentedBlock('proxies/nginx.md', 'nginx-location-snippet'), NGINX_LOCATION_SNIPPET);
  assert.equal(documentedBlock('proxies/nginx.md', 'nginx-sites'), renderTemplate(NGINX_SITES_TEMPLATE, NGINX_DOC_VALUES));
});

if (existsSync('/usr/sbin/nginx') && existsSync('/usr/bin/chromium') && hasOpenssl()) {
  // Navigations refresh through /oauth2/refresh (the check answers 401 with that URL, and the recipe's
  // @gatehouse turns it into the redirect): nginx passes on only the first Set-Cookie of a check, which is
  // not enough for a session split over several cookies.
  describeSingleSignOn('nginx', { refreshDelivery: 'redirect' });
} else {
  test('browser single sign-on through nginx', () => {
    // The end-to-end suite needs real parts; .ci/run installs them. A missing one fails, never skips.
    assert.fail('needs /usr/sbin/nginx, /usr/bin/chromium and openssl');
  });
}
