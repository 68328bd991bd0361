# syntax=docker/dockerfile:1
# Build stage: compile TypeScript with the full dependency set.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src src
COPY proxy proxy
COPY handler handler
COPY examples examples
COPY bench bench
COPY test test
RUN npm run build

# Production dependencies on top of the built dist/: scripts/prepare.js sees no TypeScript
# and keeps dist/ as it is.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts scripts
COPY --from=build /app/dist dist
RUN npm ci --omit=dev --no-audit --no-fund

# Runtime stage: production dependencies and compiled output only, as a non-root user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
# In a container, publishers reach the control and ZeroMQ ports from outside: --bind-all
# moves their defaults from 127.0.0.1 to 0.0.0.0 (explicit addresses still win).
ENV THUMBTACK_BIND_ALL=true
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
COPY bin bin
COPY config config
USER node
# client, publish HTTP, ZeroMQ PULL, ZeroMQ SUB
EXPOSE 7999 5561 5560 5562
# `thumbtack health` reads the same settings as the server (THUMBTACK_* variables, a
# THUMBTACK_CONFIG file; not the CMD's flags) and checks /healthz on the control port and
# a connection to the client port, on 127.0.0.1.
HEALTHCHECK --interval=15s --timeout=4s --start-period=10s --retries=3 \
  CMD ["node", "bin/thumbtack.js", "health"]
# SIGTERM drains: give `docker stop -t` (or terminationGracePeriodSeconds) more than
# --drain-timeout + 2 s; the default drain is 10 s, so at least 15.
STOPSIGNAL SIGTERM
# No CMD: flags would beat THUMBTACK_* variables (THUMBTACK_ROUTES, ...); the routes
# default is config/routes in /app.
ENTRYPOINT ["node", "bin/thumbtack.js"]
