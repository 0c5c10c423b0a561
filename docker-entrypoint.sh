#!/bin/sh
# Runs `aft <command>`. Peers forward requests to this node at its own address, which only
# the container knows (awsvpc networking gives each task its own IP): advertise that.
set -eu
if [ -z "${AFT_ADVERTISE_URL:-}" ]; then
  AFT_ADVERTISE_URL="http://$(hostname -i | cut -d' ' -f1):${AFT_PORT:-7070}"
  export AFT_ADVERTISE_URL
fi
exec node /app/dist/bin/aft.js "$@"
