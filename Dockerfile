# syntax=docker/dockerfile:1
#
# gatehouse container image.
#
#   docker build -t gatehouse .
#   docker run --rm -p 4180:4180 gatehouse --provider=oidc --oidc-issuer-url=https://example.eu.auth0.com/ \
#     --client-id=... --client-secret=... --cookie-secret=... --email-domain=example.com --upstream=static://202
#   docker run --rm gatehouse secret generate
#
# Without a provider gatehouse would start its development identity provider, which it refuses to do on
# the image's 0.0.0.0:4180: configure a provider (flags, OAUTH2_PROXY_* or --config), or try the
# development mode outside a container with `npm start`.
#
# The entry point is the gatehouse command, so arguments work as with oauth2-proxy's image: flags alone
# run `serve`. The runtime image holds the compiled dist/, the JSON Schema and the production
# dependencies only; it writes nothing at run time, so it runs with a read-only root file system, as a
# non-root user without a home directory. deploy/kubernetes/ has the manifests; docs/deploy.md the steps.
# test/deploy/dockerfile.test.ts checks these promises, and runs the same production install.

# --- build: compile TypeScript with the development dependencies -----------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would compile before the sources are here; the build runs below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src/ src/
RUN npm run build

# --- runtime: production dependencies and the compiled code ----------------------------------------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    GATEHOUSE_LISTEN=0.0.0.0:4180
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` needs tsc, a development dependency; no production dependency has an
# install script. The npm cache is dropped so it does not stay in the layer.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && npm cache clean --force \
    && groupadd --system --gid 10001 gatehouse \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin gatehouse
COPY --from=build /src/dist/ dist/
COPY schema/ schema/
# Files stay owned by root and read-only for the user gatehouse runs as.
USER 10001:10001
# 4180: forward-auth checks and /oauth2/ (listen); 9090: Prometheus metrics when metrics.listen is set.
EXPOSE 4180 9090
# Liveness only: /ping answers 200 as long as the process serves. Readiness (/ready: provider discovered,
# session store answering) is for an orchestrator's readiness probe. Slim images have no curl.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:4180/ping').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# gatehouse stops gracefully on SIGTERM: in-flight checks finish within shutdownTimeout (10s).
STOPSIGNAL SIGTERM
# --no-memory-reducer, as `npm start` runs it: V8's idle-time collection would otherwise leave the check's
# optimized code slower for good (docs/architecture.md, the hot path).
ENTRYPOINT ["node", "--no-memory-reducer", "dist/cli/bin.js"]
CMD ["serve"]
