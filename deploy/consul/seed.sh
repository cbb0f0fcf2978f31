#!/bin/sh
# Seeds Consul KV with a routecar policy and an example traffic split.
#
#   CONSUL_HTTP_ADDR=http://127.0.0.1:8500 CONSUL_HTTP_TOKEN=<operator token> \
#     deploy/consul/seed.sh [POLICY_FILE]            # default: policies/default.yaml
#
# The policy is always written (seeding means "serve this file"); the example split only when the
# key does not exist yet, so re-running the script never undoes a canary an operator has set.
# When node and a built routecar are at hand, the file is validated before anything is written.
set -eu

POLICY_FILE=${1:-policies/default.yaml}
PREFIX=${ROUTECAR_CONSUL_PREFIX:-routecar/}
case "$PREFIX" in */) ;; *) PREFIX="$PREFIX/" ;; esac
: "${CONSUL_HTTP_ADDR:?set CONSUL_HTTP_ADDR (e.g. http://127.0.0.1:8500)}"

if [ ! -f "$POLICY_FILE" ]; then
  echo "seed: $POLICY_FILE: no such file" >&2
  exit 1
fi

if command -v node >/dev/null 2>&1 && [ -f dist/src/cli/main.js ]; then
  node dist/src/cli/main.js policy validate "$POLICY_FILE"
fi

consul kv put "${PREFIX}policy" "@${POLICY_FILE}"

# Example: the chat-canary route of policies/default.yaml at 90/10. Shift it with another put,
# roll back with weight 0 or by deleting the key (docs/operations.md).
SPLIT_KEY="${PREFIX}splits/chat-canary"
if consul kv get "$SPLIT_KEY" >/dev/null 2>&1; then
  echo "seed: $SPLIT_KEY exists; left as it is"
else
  consul kv put -cas -modify-index=0 "$SPLIT_KEY" '{"llama-70b-a100": 90, "qwen-32b-h100": 10}'
fi
