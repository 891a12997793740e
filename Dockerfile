# syntax=docker/dockerfile:1
# acr-egress: egress gateway for Azure Container Registry and MCR.
#   docker build -t acr-egress:0.2.0 --build-arg REVISION=$(git rev-parse HEAD) .
#   docker run -p 3128:3128 -e ACR_REGISTRY=myregistry acr-egress
# Node 26 (Active LTS): `npm run bench -- --node` measured it level with 24 on CPU per GiB and per
# tunnel (docs/benchmarks.md), and it is maintained a year longer. Pinned to the version .ci/run
# runs the whole suite on (SHIPPED=26, NODE26_VERSION); bump them together, and keep package.json
# engines to the lines .ci/run tests.
ARG NODE_IMAGE=node:26.10.0-bookworm-slim

# ---- build: dev dependencies and the TypeScript compiler ----------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the `prepare` script compiles, and the sources are not copied yet.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The dashboard's sources: the build bundles them into dist/ui, which the admin API serves at /ui.
COPY ui ./ui
RUN npm run build

# ---- runtime: production dependencies only, non-root, tini as PID 1 -----------------------------
FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
# --max-semi-space-size=32 (MiB; Node's default is 16): half as many young-generation collections,
# 6-11 % less CPU per tunnel at 8, 64 and 256 concurrent in the same runs (docs/benchmarks.md), for
# at most 32 MiB more young generation under load. npm start passes the same flag.
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=32 \
    ACR_EGRESS_CONFIG=/etc/acr-egress/acr-egress.yaml
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` runs tsc, which a production install does not have (and does not need).
RUN npm ci --omit=dev --ignore-scripts \
 && npm cache clean --force
COPY --from=build /src/dist ./dist
# The default config; mount your own over /etc/acr-egress/ (docker-compose.yml, deploy/kubernetes/).
COPY deploy/docker/acr-egress.yaml /etc/acr-egress/acr-egress.yaml
# The service-tag cache (serviceTags.cacheFile) and the embedded store (audit.dir, the SQLite file
# and its WAL) survive restarts on this volume; the `node` user must own it.
RUN mkdir -p /var/lib/acr-egress && chown node:node /var/lib/acr-egress
VOLUME ["/var/lib/acr-egress"]
# The `node` user (uid 1000) comes with the base image.
USER node
# OCI labels: what the image is and which source built it. `revision` and `source` come from the build:
#   docker build --build-arg REVISION=$(git rev-parse HEAD) --build-arg SOURCE=$(git remote get-url origin) .
# VERSION is package.json's version (a test keeps them equal).
ARG VERSION=0.2.0
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="acr-egress" \
      org.opencontainers.image.description="Egress gateway for Azure Container Registry and MCR" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT"
# 3128: the CONNECT proxy (HTTPS_PROXY=http://<gateway>:3128). 9128: the admin API (/healthz, /readyz, /metrics).
EXPOSE 3128 9128
# No curl in the slim image: Node's own fetch asks the admin API, which listens on loopback by default.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9128/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# tini reaps and forwards signals; the CLI drains tunnels on SIGTERM (proxy.drainTimeoutMs) and exits 0.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/cli.js", "serve"]
