/**
 * nginx in front of gatehouse with `auth_request`: the recipe of docs/proxies/nginx.md (two snippets and the
 * sites), and an nginx process running it from the test's temp dir with a throw-away certificate.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderTemplate } from './docs.js';
import { GRAFANA_HOST, TRAEFIK_HOST } from './gatehouse.js';
import { spawnLogged, waitForPort, type Spawned } from './processes.js';
import type { TestPki } from './tls.js';

/** `snippets/gatehouse.conf`, included in each protected `server`: gatehouse's locations. */
export const NGINX_SERVER_SNIPPET = `# gatehouse's own endpoints, on the application's host: start, callback, sign_out, refresh.
location /oauth2/ {
    proxy_pass http://gatehouse;
    # Session cookies and ID tokens make gatehouse's answers' headers larger than nginx's default buffer.
    proxy_buffer_size 32k;
    proxy_buffers 8 32k;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
}

# The check, as a subrequest: without the body, describing the original request in X-Forwarded-*.
# HTTP/1.1 with keep-alive (and the upstream's keepalive pool) reuses connections to gatehouse instead of
# opening one per check, and lets gatehouse answer in its fast lane.
location = /oauth2/auth {
    internal;
    proxy_pass http://gatehouse;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffer_size 32k;
    proxy_buffers 8 32k;
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $http_host;
    proxy_set_header X-Forwarded-Uri $request_uri;
    proxy_set_header X-Forwarded-Method $request_method;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
}

# The check said 401 or 403: nginx passes on nothing of that answer but the status, so ask gatehouse
# for the full answer: the sign-in redirect for a browser, 401 JSON for a script, the access-denied page.
# Always at /, gatehouse's check for proxies that pass its answer on, and without the browser's query:
# the original request travels in X-Forwarded-Uri alone.
location @gatehouse {
    rewrite ^ /? break;
    proxy_pass http://gatehouse;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffer_size 32k;
    proxy_buffers 8 32k;
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $http_host;
    proxy_set_header X-Forwarded-Uri $request_uri;
    proxy_set_header X-Forwarded-Method $request_method;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
}
`;

/** `snippets/gatehouse-auth.conf`, included in each protected `location`: the check and the identity. */
export const NGINX_LOCATION_SNIPPET = `auth_request /oauth2/auth;
error_page 401 403 = @gatehouse;

# The identity from gatehouse's answer, onto the request to the application. proxy_set_header replaces
# whatever the client sent under these names; an empty value sends no header at all.
auth_request_set $gatehouse_user $upstream_http_x_auth_request_user;
auth_request_set $gatehouse_email $upstream_http_x_auth_request_email;
auth_request_set $gatehouse_groups $upstream_http_x_auth_request_groups;
auth_request_set $gatehouse_username $upstream_http_x_auth_request_preferred_username;
auth_request_set $gatehouse_authorization $upstream_http_authorization;
proxy_set_header X-Auth-Request-User $gatehouse_user;
proxy_set_header X-Auth-Request-Email $gatehouse_email;
proxy_set_header X-Auth-Request-Groups $gatehouse_groups;
proxy_set_header X-Auth-Request-Preferred-Username $gatehouse_username;
proxy_set_header Authorization $gatehouse_authorization;

# A session refreshed during the check comes back as Set-Cookie: hand it to the browser.
auth_request_set $gatehouse_cookie $upstream_http_set_cookie;
add_header Set-Cookie $gatehouse_cookie;
`;

/** The sites: gatehouse as an upstream, and one `server` per protected application. */
export const NGINX_SITES_TEMPLATE = `# Room for large session cookies: gatehouse splits a session into cookies of up to 4 KB each.
large_client_header_buffers 4 32k;

upstream gatehouse {
    server {{GATEHOUSE}};
    # Idle connections kept open to gatehouse, for the checks (HTTP/1.1 in the snippet above).
    keepalive 16;
}

server {
    listen {{LISTEN}} ssl;
    server_name ${GRAFANA_HOST};
    ssl_certificate {{CERTIFICATE}};
    ssl_certificate_key {{CERTIFICATE_KEY}};

    include snippets/gatehouse.conf;

    location / {
        include snippets/gatehouse-auth.conf;
        proxy_pass http://{{GRAFANA_APP}};
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
}

server {
    listen {{LISTEN}} ssl;
    server_name ${TRAEFIK_HOST};
    ssl_certificate {{CERTIFICATE}};
    ssl_certificate_key {{CERTIFICATE_KEY}};

    include snippets/gatehouse.conf;

    location / {
        include snippets/gatehouse-auth.conf;
        proxy_pass http://{{TRAEFIK_APP}};
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
}
`;

/** The values the documentation shows in the sites block. */
export const NGINX_DOC_VALUES: Readonly<Record<string, string>> = Object.freeze({
  GATEHOUSE: '127.0.0.1:4180',
  LISTEN: '443',
  CERTIFICATE: '/etc/nginx/tls/homelab.example.com.crt',
  CERTIFICATE_KEY: '/etc/nginx/tls/homelab.example.com.key',
  GRAFANA_APP: '127.0.0.1:3000',
  TRAEFIK_APP: '127.0.0.1:9000',
});

/** A running nginx. */
export interface RunningNginx {
  readonly port: number;
  readonly process: Spawned;
  stop(): Promise<void>;
}

/**
 * Starts nginx on `127.0.0.1:port` with the recipe. The main context is test-only: one worker, logs to
 * stderr, every path under the temp dir.
 */
export async function startNginx(dir: string, port: number, pki: TestPki, addresses: { gatehouse: string; grafana: string; traefik: string }): Promise<RunningNginx> {
  // Workers run as an unprivileged user when the tests run as root; they need to enter the temp dir.
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'snippets'));
  writeFileSync(join(dir, 'snippets/gatehouse.conf'), NGINX_SERVER_SNIPPET);
  writeFileSync(join(dir, 'snippets/gatehouse-auth.conf'), NGINX_LOCATION_SNIPPET);
  writeFileSync(
    join(dir, 'sites.conf'),
    renderTemplate(NGINX_SITES_TEMPLATE, {
      GATEHOUSE: addresses.gatehouse,
      LISTEN: `127.0.0.1:${port}`,
      CERTIFICATE: pki.certPath,
      CERTIFICATE_KEY: pki.keyPath,
      GRAFANA_APP: addresses.grafana,
      TRAEFIK_APP: addresses.traefik,
    }),
  );
  const temp = (name: string) => join(dir, 'temp', name);
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
error_log stderr notice;

events {
    worker_connections 256;
}

http {
    access_log ${join(dir, 'access.log')};
    client_body_temp_path ${temp('body')};
    proxy_temp_path ${temp('proxy')};
    fastcgi_temp_path ${temp('fastcgi')};
    uwsgi_temp_path ${temp('uwsgi')};
    scgi_temp_path ${temp('scgi')};

    include sites.conf;
}
`,
  );
  mkdirSync(join(dir, 'temp'));
  const nginx = spawnLogged('nginx', '/usr/sbin/nginx', ['-e', 'stderr', '-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`], { cwd: dir, env: { PATH: process.env.PATH } });
  try {
    await waitForPort(port, 10_000, nginx);
  } catch (error) {
    await nginx.stop();
    throw error;
  }
  return { port, process: nginx, stop: () => nginx.stop() };
}
