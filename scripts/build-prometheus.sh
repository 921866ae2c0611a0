#!/usr/bin/env bash
# Build Prometheus 3 (prometheus and promtool) from its Go module, once; cached.
#
#   PROM3=$(bash scripts/build-prometheus.sh)     # .../prometheus; promtool is next to it
#   "$PROM3" --version
#
# Debian ships Prometheus 2.42, which has no OTLP receiver; docs/stack.md's
# "OTLP straight into Prometheus" path and its tests need 3.x. The module
# github.com/prometheus/prometheus v0.316.0 is Prometheus 3.16.0.
#
# Build choices (each one measured in docs/stack.md):
#   -tags remove_all_sd   leaves out the cloud service-discovery plugins (AWS, Azure,
#                         GCE, Kubernetes, ... in plugins/): less than half the source
#                         to compile. static_configs, file_sd and http_sd remain.
#                         promtool still links Kubernetes SD (it imports it directly).
#   one go build          both binaries share the compiled packages.
#   -trimpath -s -w       smaller binaries, no local paths.
#   -X .../version.*      `prometheus --version` names the release (empty otherwise).
# Not built: the web UI (its assets are not in the Go module; the build tag
# builtinassets needs them). The HTTP API, which is all the stack uses, is there.
#
# Environment: AZORA_PROMETHEUS3_VERSION (module version, default v0.316.0),
# AZORA_CACHE_DIR, GO. See scripts/go-build-cached.sh for the cache.
set -euo pipefail

MODULE_VERSION="${AZORA_PROMETHEUS3_VERSION:-v0.316.0}"
# v0.MAJOR MINOR.PATCH -> MAJOR/100 . MINOR%100 . PATCH (v0.316.0 -> 3.16.0)
minor=${MODULE_VERSION#v0.}
minor=${minor%%.*}
patch=${MODULE_VERSION##*.}
RELEASE="$((minor / 100)).$((minor % 100)).$patch"
VERSION_PKG=github.com/prometheus/common/version

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR=$(bash "$HERE/go-build-cached.sh" \
  --name prometheus \
  --module "github.com/prometheus/prometheus@$MODULE_VERSION" \
  --tags remove_all_sd \
  --ldflags "-X $VERSION_PKG.Version=$RELEASE -X $VERSION_PKG.Revision=$MODULE_VERSION -X $VERSION_PKG.Branch=go-module -X $VERSION_PKG.BuildUser=azora-otel" \
  --ldflags-build "-X $VERSION_PKG.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)" \
  --bin prometheus=cmd/prometheus \
  --bin promtool=cmd/promtool)
printf '%s\n' "$DIR/prometheus"
