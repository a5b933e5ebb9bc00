#!/usr/bin/env bash
# deploy_manifests: renders each kustomization under deploy/overlays/ (and deploy/knative-features)
# with kubectl, then yamllint, the deploy lint and the flag check on the output, and lints the
# Dockerfiles in deploy/docker/.
# Usage: check_manifests.sh DEPLOY_DIR [TRIBUTARY_BINARY]
set -euo pipefail
deploy=$(cd "$1" && pwd)
binary=${2:-}
source "$(dirname "$0")/common.sh"

command -v kubectl >/dev/null || skip "kubectl not found: cannot render the kustomize overlays"
command -v yamllint >/dev/null || skip "yamllint not found (apt-get install yamllint)"
require_node_lint "$deploy"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== yamllint deploy/"
(cd "$deploy" && yamllint --strict -c .yamllint .)

rendered=()
for dir in "$deploy"/overlays/*/ "$deploy/knative-features/"; do
  name=$(basename "$dir")
  echo "== kubectl kustomize ${dir#"$deploy"/}"
  kubectl kustomize "$dir" >"$out/$name.yaml"
  [[ -s $out/$name.yaml ]] || { echo "FAIL: $name rendered nothing"; exit 1; }
  rendered+=("$out/$name.yaml")
done
((${#rendered[@]} >= 3)) || { echo "FAIL: expected the knative, keda and plain overlays"; exit 1; }

echo "== yamllint (rendered)"
yamllint --strict -c "$deploy/.yamllint" "${rendered[@]}"

echo "== deploy lint (rendered)"
status=0
for f in "${rendered[@]}"; do
  node "$deploy/lint/lint.mjs" "$f" || status=1
done
((status == 0)) || { echo "FAIL: the deploy lint found problems"; exit 1; }

echo "== Dockerfiles"
node "$deploy/lint/dockerfile_lint.mjs" "$deploy"/docker/*.Dockerfile

echo "== tributary flags"
# (A build without the platform has a `tributary` whose help knows no `serve`.)
serve_help=""
[[ -n $binary && -x $binary ]] && serve_help=$("$binary" serve --help 2>/dev/null || true)
if [[ $serve_help == *--listen* ]]; then
  node "$deploy/lint/serve_flags.mjs" "$binary" "${rendered[@]}"
else
  echo "flag check skipped: no tributary binary with the serve command was built"
fi
echo "deploy_manifests: passed"
