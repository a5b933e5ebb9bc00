#!/usr/bin/env bash
# deploy_lint_rejects_broken: the lint's own test over deploy/lint/testdata/ (each broken
# fixture rejected with its rule, each valid one accepted, every rule covered).
# Usage: check_lint_rejects_broken.sh DEPLOY_DIR
set -euo pipefail
deploy=$(cd "$1" && pwd)
source "$(dirname "$0")/common.sh"
require_node_lint "$deploy"
node "$deploy/lint/lint_test.mjs"
