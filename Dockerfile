# syntax=docker/dockerfile:1
#
# routecar sidecar image.
#
#   docker build -t routecar:dev .
#   docker run --rm -p 127.0.0.1:4101:4101 -e ROUTECAR_POLICY_FILE=/app/policies/default.yaml routecar:dev
#
# Three stages on the same pinned Node 24 slim base: `build` compiles TypeScript and bundles it
# with the dev dependencies (`npm run build`), `deps` installs the production dependencies only,
# and the final stage copies dist/src (the bin, and the demo fleet that docker-compose.yml and
# deploy/ run from the same image), the bundle the bin loads, those node_modules (for the
# packages left out of the bundle, see rolldown.config.js), the example policies and
# package*.json. No compiler, no test tooling, no sources in the image.

# Node 24 LTS on Debian 12 slim; pin a digest too (node:24.21.0-bookworm-slim@sha256:...) for builds
# that must be reproducible.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json rolldown.config.js ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
# tini as PID 1: forwards SIGTERM/SIGINT to node (which drains, see docs/operations.md) and reaps
# zombies. Node as PID 1 would get no default signal handling from the kernel.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
# uid/gid 10001: not root, and not a uid the base image (node = 1000) or a host is likely to use.
RUN groupadd --system --gid 10001 routecar \
  && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin routecar \
  && install -d -o 10001 -g 10001 -m 0750 /var/lib/routecar
WORKDIR /app
COPY --from=deps /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/dist/bundle ./dist/bundle
COPY package.json package-lock.json ./
COPY policies ./policies

# Listeners. The proxy stays on loopback: the app reaches its sidecar on localhost, and nothing
# else in the cluster should be able to send traffic through it. The admin listener binds all
# interfaces because kubelet probes and Prometheus connect to the pod IP; off loopback, routecar
# requires ROUTECAR_ADMIN_TOKEN for /admin/* (without it /admin/* answers 403), while /healthz,
# /readyz and /metrics stay open.
ENV NODE_ENV=production \
    ROUTECAR_LISTEN=127.0.0.1:4100 \
    ROUTECAR_ADMIN_LISTEN=0.0.0.0:4101 \
    ROUTECAR_STATE_DIR=/var/lib/routecar
EXPOSE 4100 4101
VOLUME ["/var/lib/routecar"]
USER 10001:10001

# slim has no curl: node's fetch against the admin listener's port, whatever ROUTECAR_ADMIN_LISTEN says.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "const p=(process.env.ROUTECAR_ADMIN_LISTEN||'').split(':').pop()||'4101';fetch('http://127.0.0.1:'+p+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# `start` needs a policy source from the environment (ROUTECAR_POLICY_FILE or CONSUL_HTTP_ADDR):
# without one it exits 1 and says so. It never falls back to the demo backends.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=4", "--heap-growing-percent=60", "--no-allocation-site-pretenuring", "dist/src/cli/main.js"]
CMD ["start"]
