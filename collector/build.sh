#!/usr/bin/env bash
# Build the otelcol-azora Collector from collector/builder-config.yaml with ocb.
#
# The binary is cached at
#   ${AZORA_CACHE_DIR:-$HOME/.cache/azora-otel}/otelcol-azora-<hash>/otelcol-azora
# where <hash> is the first 12 hex digits of the manifest's sha256, so editing the
# manifest triggers a rebuild and an unchanged manifest costs nothing. Go's own
# caches (GOMODCACHE, GOCACHE, GOFLAGS) are used as configured: a rebuild after a
# manifest change mostly hits ~/.cache/go-build.
#
# Progress goes to stderr; the last (and only) line on stdout is the binary's path:
#   OTELCOL_BIN=$(collector/build.sh)
#
# Environment:
#   AZORA_CACHE_DIR   where built binaries (and ocb itself) are kept
#   AZORA_OCB_VERSION ocb release; must match the core release in the manifest
#   GO                the go command to use (default: go on PATH, then /usr/local/go/bin/go)
set -euo pipefail

OCB_VERSION="${AZORA_OCB_VERSION:-v0.165.0}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MANIFEST="$HERE/builder-config.yaml"
CACHE_ROOT="${AZORA_CACHE_DIR:-$HOME/.cache/azora-otel}"

log() { printf '[collector/build.sh] %s\n' "$*" >&2; }
die() { printf '[collector/build.sh] ERROR: %s\n' "$*" >&2; exit 1; }

[[ -f "$MANIFEST" ]] || die "manifest not found: $MANIFEST"

HASH="$(sha256sum "$MANIFEST" | cut -c1-12)"
DEST_DIR="$CACHE_ROOT/otelcol-azora-$HASH"
BIN="$DEST_DIR/otelcol-azora"

if [[ -x "$BIN" ]]; then
  log "cached build for manifest $HASH: $BIN"
  printf '%s\n' "$BIN"
  exit 0
fi

# Only a build needs Go: a cached binary is reused without it.
GO_BIN="${GO:-}"
if [[ -z "$GO_BIN" ]]; then
  if command -v go >/dev/null 2>&1; then
    GO_BIN="$(command -v go)"
  elif [[ -x /usr/local/go/bin/go ]]; then
    GO_BIN=/usr/local/go/bin/go
  fi
fi
if [[ -z "$GO_BIN" || ! -x "$GO_BIN" ]]; then
  die "Go is required to build the Collector but no 'go' was found on PATH or at /usr/local/go/bin/go.
Install Go >= 1.24 (https://go.dev/dl/) or set GO=/path/to/go, or point AZORA_OTELCOL_BIN at a prebuilt otelcol-azora."
fi
# ocb calls plain `go`; make sure it finds the same one.
export PATH="$(dirname "$GO_BIN"):$PATH"

mkdir -p "$CACHE_ROOT"
# One build at a time per cache dir (parallel test workers may all call us).
exec 9>"$CACHE_ROOT/.build.lock"
if command -v flock >/dev/null 2>&1; then
  log "waiting for the build lock $CACHE_ROOT/.build.lock"
  flock 9
  if [[ -x "$BIN" ]]; then
    log "another process built it meanwhile: $BIN"
    printf '%s\n' "$BIN"
    exit 0
  fi
fi

START=$SECONDS
log "using $("$GO_BIN" version)"

OCB="$CACHE_ROOT/ocb-$OCB_VERSION/builder"
if [[ ! -x "$OCB" ]]; then
  log "installing ocb $OCB_VERSION (go install go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION)"
  GOBIN="$CACHE_ROOT/ocb-$OCB_VERSION" "$GO_BIN" install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION" >&2 \
    || die "could not install ocb $OCB_VERSION (is the Go module proxy reachable? GOPROXY=$("$GO_BIN" env GOPROXY))"
fi

WORK="$(mktemp -d "$CACHE_ROOT/build-$HASH.XXXXXX")"
trap 'rm -rf "$WORK"; [[ -n "${TICKER:-}" ]] && kill "$TICKER" 2>/dev/null || true' EXIT
cp "$MANIFEST" "$WORK/builder-config.yaml"

# The compile step prints nothing for minutes on a cold cache: keep a heartbeat.
( while sleep 30; do log "... still building ($((SECONDS - START))s elapsed)"; done ) &
TICKER=$!

log "generating and compiling otelcol-azora from $MANIFEST (cold: several minutes; cached Go build: well under one)"
# output_path in the manifest is relative (./_build): run from the work dir.
(cd "$WORK" && "$OCB" --config=builder-config.yaml --ldflags="-s -w" >&2) \
  || die "ocb failed for $MANIFEST (see the output above); the generated sources are in $WORK/_build"

[[ -x "$WORK/_build/otelcol-azora" ]] || die "ocb finished but $WORK/_build/otelcol-azora is missing"

mkdir -p "$DEST_DIR"
cp "$MANIFEST" "$DEST_DIR/builder-config.yaml"
# Move into place atomically so a half-written binary is never picked up.
mv "$WORK/_build/otelcol-azora" "$DEST_DIR/otelcol-azora.tmp"
mv "$DEST_DIR/otelcol-azora.tmp" "$BIN"
log "built in $((SECONDS - START))s: $("$BIN" --version 2>&1 | head -n1)"
printf '%s\n' "$BIN"
