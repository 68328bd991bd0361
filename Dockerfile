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
RUN npm run build && npm prune --omit=dev

# Runtime stage: production dependencies and compiled output only, as a non-root user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
COPY bin bin
COPY config config
USER node
# client, publish HTTP, ZeroMQ PULL, ZeroMQ SUB
EXPOSE 7999 5561 5560 5562
# The control API's /readyz is 200 once the handler is up and proxy workers are on its bus.
# The proxy port is checked by opening a connection (any HTTP answer, even 502 for no
# route, means alive).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "const n=require('net');let ok=0;const c=()=>{if(++ok===2)process.exit(0)};fetch('http://127.0.0.1:5561/readyz').then(r=>r.ok?c():process.exit(1),()=>process.exit(1));n.connect(7999,'127.0.0.1',c).on('error',()=>process.exit(1));setTimeout(()=>process.exit(1),2500)"
ENTRYPOINT ["node", "bin/thumbtack.js"]
CMD ["--routes", "config/routes"]
