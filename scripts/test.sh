#!/usr/bin/env bash
# Runs every test: the Rust workspace (unit, integration, store crash tests), the check that the
# generated shapes are current, and the end-to-end suite (pytest + boto3 + aws cli against the
# release binary). Installs what it needs itself: a Python venv under tests/e2e/.venv, and the
# AWS SDK for JavaScript v3 (a second real client) under tests/e2e/js/node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=tests/e2e/.venv
if [ ! -x "$VENV/bin/python" ] || ! cmp -s tests/e2e/requirements.txt "$VENV/.requirements"; then
  echo "== creating $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet -r tests/e2e/requirements.txt
  cp tests/e2e/requirements.txt "$VENV/.requirements"
fi

# The AWS SDK for JavaScript v3: a second real client besides botocore (tests/e2e/test_js_sdk.py).
JS=tests/e2e/js
if [ ! -d "$JS/node_modules/@aws-sdk/client-kms" ] || ! cmp -s "$JS/package-lock.json" "$JS/node_modules/.kmsnap-lock"; then
  echo "== installing $JS/node_modules"
  if ! command -v npm >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq nodejs npm
  fi
  (cd "$JS" && npm ci --no-audit --no-fund --silent)
  cp "$JS/package-lock.json" "$JS/node_modules/.kmsnap-lock"
fi

if ! command -v cargo-nextest >/dev/null 2>&1; then
  RUNNER=(cargo test --workspace)
else
  RUNNER=(cargo nextest run --workspace --no-fail-fast)
fi

echo "== rustfmt and clippy"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== generated shapes are current"
KMSNAP_CODEGEN_PYTHON="$PWD/$VENV/bin/python" cargo xtask codegen --check

echo "== cargo build (release binary for e2e)"
cargo build --release --bin kmsnap

echo "== rust tests"
"${RUNNER[@]}"
cargo test --workspace --doc --quiet

echo "== end-to-end tests"
KMSNAP_BIN="$PWD/target/release/kmsnap" "$VENV/bin/python" -m pytest -q tests/e2e "$@"
