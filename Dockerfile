# compactd container image: `docker build -t compactd .`
#
# Two stages: `build` compiles the TypeScript with the dev dependencies; the runtime stage holds
# only production dependencies, the compiled dist/, bin/ and the .proto the service loads at run
# time. npm's `prepare` script builds the package, which needs the dev dependencies and the
# sources, so every `npm ci` here runs with --ignore-scripts and the build is an explicit step.
# (No dependency needs its install script: protobufjs's only prints a version notice.)

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY proto ./proto
COPY src ./src
COPY scripts/bundle-vendor.mjs ./scripts/
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true \
    COMPACTD_HOST=0.0.0.0 \
    COMPACTD_PORT=50051 \
    COMPACTD_METRICS_PORT=9464 \
    COMPACTD_BLOB=file:///var/lib/compactd
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && npm cache clean --force \
    && mkdir -p /var/lib/compactd \
    && chown 1000:1000 /var/lib/compactd
COPY bin ./bin
COPY proto ./proto
COPY --from=build /app/dist ./dist
# The base image's unprivileged `node` user, by number so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
VOLUME ["/var/lib/compactd"]
# gRPC (Compactor, Admin, health, reflection), then /metrics and /healthz.
EXPOSE 50051 9464
# The project's own health client asks the gRPC health service on 127.0.0.1:$COMPACTD_PORT;
# a draining replica reports NOT_SERVING.
HEALTHCHECK --interval=10s --timeout=6s --start-period=20s --retries=3 \
    CMD ["/app/bin/compactd", "health", "--timeout-seconds", "5"]
ENTRYPOINT ["/app/bin/compactd"]
CMD ["serve"]
