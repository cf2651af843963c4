# The collab-operator image: one image runs `collab-operator run` (the operator) and `collab-operator gateway` (the
# user-simulator and judge sidecars in job pods). Node 24 runs the TypeScript sources directly (type stripping, for
# files outside node_modules), so there is no build step: the image is the production dependencies plus src/.
# test/unit/packaging/dockerfile.test.ts parses this file and replays the build stage's COPY and RUN lines in a
# temporary directory, then starts both commands from it.
ARG NODE_VERSION=24.21.0

# Build stage: production dependencies only, exactly as package-lock.json pins them; no install scripts run. (npm's
# cache stays behind in this stage: only /app is copied on.)
FROM node:${NODE_VERSION}-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY src ./src

# Runtime: distroless Node 24 on Debian 13, no shell or package manager. Files stay root-owned and read-only to the
# process, which runs as the image's numeric non-root user; it writes nothing to disk (readOnlyRootFilesystem).
FROM gcr.io/distroless/nodejs24-debian13:nonroot
WORKDIR /app
COPY --from=build /app /app
ENV NODE_ENV=production
USER 65532:65532
EXPOSE 8080 8081
# Exec form, node itself as PID 1: both commands handle SIGTERM and SIGINT themselves (the operator drains and
# releases its Lease, a gateway sends its last report), so no init process is needed to forward signals.
# V8's heap flags keep a long-lived controller small (docs/operator.md "Scale and memory"): with V8's defaults the
# young generation grows to 2 x 64 MiB while thousands of objects are listed and never shrinks back, and the old
# generation runs to about twice its live size before a full collection; memory saver mode makes V8 collect and
# compact with the footprint first and give pages back once the start-up work is done (docs/operator.md has the
# measurements).
# None of them may be set in NODE_OPTIONS, so they are here; a process started another way should pass them too.
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=8", "--heap-growing-percent=50", "--memory-saver-mode", "/app/src/cli.ts"]
CMD ["run"]
