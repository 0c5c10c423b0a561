# The aft shim node image (the AftShim CDK construct builds it). Build the package first:
#   npm install && npm run build && docker build -t aft .
# Run: docker run -p 7070:7070 -e AFT_STORAGE=s3://bucket aft            (serve)
#      docker run -e AFT_STORAGE=s3://bucket aft gc                       (one GC pass)
FROM public.ecr.aws/docker/library/node:20-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production \
    AFT_HOST=0.0.0.0 \
    AFT_PORT=7070 \
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

COPY package.json package-lock.json ./
# Runtime dependencies only; no install scripts (the package is built already).
RUN npm ci --omit=dev --omit=peer --omit=optional --ignore-scripts --no-audit --no-fund \
    && npm cache clean --force
COPY dist/shim dist/shim
COPY dist/adapters dist/adapters
COPY dist/gc dist/gc
COPY dist/lambda-layer dist/lambda-layer
COPY dist/bin dist/bin
COPY docker-entrypoint.sh /usr/local/bin/aft-entrypoint

USER node
EXPOSE 7070
ENTRYPOINT ["aft-entrypoint"]
CMD ["serve"]
