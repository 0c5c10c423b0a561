# The aft shim node image. The AftShim CDK construct builds it from the installed package
# (node_modules/aft-shim); from a clone, build the package first:
#   npm ci && npm run build && docker build -t aft .
# Run: docker run -p 7070:7070 -e AFT_STORAGE=s3://bucket aft            (serve)
#      docker run -e AFT_STORAGE=s3://bucket aft gc                       (one GC pass)
FROM public.ecr.aws/docker/library/node:22-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production \
    AFT_HOST=0.0.0.0 \
    AFT_PORT=7070

COPY package.json ./
COPY dist/shim dist/shim
COPY dist/adapters dist/adapters
COPY dist/wire dist/wire
COPY dist/gc dist/gc
COPY dist/server dist/server
COPY dist/lambda-layer dist/lambda-layer
COPY dist/lambda-local dist/lambda-local
COPY dist/bin dist/bin
# Runtime dependencies and every engine's package (bin/image-manifest.ts): one image serves
# any storage URL. No lockfile (a package has none) and no install scripts (built already).
RUN node dist/bin/image-manifest.js package.json \
    && npm install --omit=dev --ignore-scripts --no-package-lock --no-audit --no-fund \
    && npm cache clean --force
COPY docker-entrypoint.sh /usr/local/bin/aft-entrypoint

USER node
EXPOSE 7070
ENTRYPOINT ["aft-entrypoint"]
CMD ["serve"]
