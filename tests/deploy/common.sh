# Shared by the deploy_* tests: skip (exit 77) with a message when kubectl, yamllint, node
# or the npm modules in deploy/lint are missing.
kSkip=77

skip() {
  echo "SKIPPED: $*"
  exit "$kSkip"
}

require_node_lint() {
  local deploy=$1
  command -v node >/dev/null || skip "node not found (apt-get install nodejs)"
  [[ -d $deploy/lint/node_modules/kubernetes-models && -d $deploy/lint/node_modules/yaml ]] ||
    skip "deploy/lint/node_modules missing (run: npm ci --no-audit --no-fund in deploy/lint, or scripts/install-deps)"
}
