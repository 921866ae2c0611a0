#!/usr/bin/env bash
# Build Jaeger v2 (the `jaeger` binary) from its Go module, once; cached.
#
#   JAEGER=$(bash scripts/build-jaeger.sh)
#   "$JAEGER" --config=jaeger/config.yaml
#
# Jaeger v2 is an OpenTelemetry Collector distribution with Jaeger's storage and
# query extensions; the stack runs it with in-memory storage (jaeger/config.yaml)
# behind the bundled Collector's traces pipeline. `go install ...@v1.76.0` refuses
# this module (its go.mod has replace directives); scripts/go-build-cached.sh
# builds it from a scratch module instead. The module github.com/jaegertracing/jaeger
# v1.76.0 carries the v2 binary in cmd/jaeger. The UI assets are not in the Go
# module: the UI is a placeholder page, the query API (/api/traces/{id},
# /api/v3/...) is complete.
#
# Environment: AZORA_JAEGER_VERSION (module version, default v1.76.0),
# AZORA_CACHE_DIR, GO. See scripts/go-build-cached.sh for the cache.
set -euo pipefail

MODULE_VERSION="${AZORA_JAEGER_VERSION:-v1.76.0}"
VERSION_PKG=github.com/jaegertracing/jaeger/internal/version
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR=$(bash "$HERE/go-build-cached.sh" \
  --name jaeger \
  --module "github.com/jaegertracing/jaeger@$MODULE_VERSION" \
  --ldflags "-X $VERSION_PKG.latestVersion=$MODULE_VERSION -X $VERSION_PKG.commitSHA=go-module-$MODULE_VERSION" \
  --ldflags-build "-X $VERSION_PKG.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --bin jaeger=cmd/jaeger)
printf '%s\n' "$DIR/jaeger"
