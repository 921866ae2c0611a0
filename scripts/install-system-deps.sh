#!/usr/bin/env bash
# Install the system packages the test stack needs, on Debian/Ubuntu, as root.
#
#   prometheus               /usr/bin/prometheus, /usr/bin/promtool
#   prometheus-alertmanager  /usr/bin/prometheus-alertmanager, /usr/bin/amtool
#   postgresql               /usr/lib/postgresql/<major>/bin (initdb, postgres, pg_ctl)
#   wrk                      /usr/bin/wrk, the load generator of `nox -s bench`
#
# Idempotent: packages already installed are left alone, and `apt-get update`
# runs (once) only when something is missing. The packages' own daemons are NOT
# left running: tests start private instances on free ports, and a packaged
# Prometheus on :9090 or Alertmanager on :9093 would collide with docs/stack.md.
# A temporary /usr/sbin/policy-rc.d keeps the maintainer scripts from starting
# them; anything that still listens afterwards is stopped.
#
# It only checks for Go (needed by collector/build.sh); Debian's golang is too
# old for the Collector, so Go comes from https://go.dev/dl/ or the CI image.
set -euo pipefail

PACKAGES=(prometheus prometheus-alertmanager postgresql wrk)
log() { printf '[install-system-deps] %s\n' "$*"; }
die() { printf '[install-system-deps] ERROR: %s\n' "$*" >&2; exit 1; }

command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script supports Debian/Ubuntu only; install ${PACKAGES[*]} by other means"

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || die "must run as root (or with sudo available)"
  SUDO=(sudo)
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for pkg in "${PACKAGES[@]}"; do
  if installed "$pkg"; then
    log "$pkg: already installed ($(dpkg-query -W -f='${Version}' "$pkg"))"
  else
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  POLICY=/usr/sbin/policy-rc.d
  if [[ ! -e $POLICY ]]; then
    log "creating a temporary $POLICY so the packages do not start their services"
    printf '#!/bin/sh\n# temporary, from azora-otel scripts/install-system-deps.sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY"
    trap '"${SUDO[@]}" rm -f "$POLICY"; log "removed the temporary $POLICY"' EXIT
  else
    log "$POLICY exists already; leaving it as it is"
  fi

  log "apt-get update"
  "${SUDO[@]}" apt-get update -qq
  log "apt-get install ${missing[*]}"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"

  # Belt and braces: stop whatever the maintainer scripts started anyway.
  for service in prometheus prometheus-alertmanager postgresql; do
    if [[ -x /etc/init.d/$service ]] && "${SUDO[@]}" /etc/init.d/"$service" status >/dev/null 2>&1; then
      log "stopping the $service service started by its package"
      "${SUDO[@]}" /etc/init.d/"$service" stop >/dev/null 2>&1 || true
    fi
  done
  if command -v ss >/dev/null 2>&1; then
    # Only processes of the binaries just installed, on their default ports.
    pids=$(ss -Hltnp '( sport = :9090 or sport = :9093 or sport = :9094 or sport = :5432 )' 2>/dev/null \
      | grep -oE '"(prometheus|prometheus-aler|alertmanager|postgres)",pid=[0-9]+' \
      | sed -E 's/.*pid=//' | sort -u || true)
    for pid in $pids; do
      log "stopping pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) left listening by the package"
      "${SUDO[@]}" kill "$pid" 2>/dev/null || true
    done
  fi
else
  log "nothing to install"
fi

# Report what the tests will find.
for bin in prometheus promtool prometheus-alertmanager amtool; do
  path=$(command -v "$bin" || true)
  [[ -n $path ]] || die "$bin is still missing after the install"
  log "$bin: $path ($("$path" --version 2>&1 | head -n1))"
done
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
[[ -n $pg_bin && -x $pg_bin/postgres ]] || die "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin"
log "postgresql: $pg_bin ($("$pg_bin/postgres" --version))"

if command -v ss >/dev/null 2>&1; then
  busy=$(ss -Hltn '( sport = :9090 or sport = :9093 )' 2>/dev/null || true)
  if [[ -n $busy ]]; then
    log "WARNING: something listens on 9090/9093 (docs/stack.md's default ports):"
    printf '%s\n' "$busy"
  else
    log "ports 9090 and 9093 are free"
  fi
fi

go_bin=$(command -v go || { [[ -x /usr/local/go/bin/go ]] && echo /usr/local/go/bin/go; } || true)
if [[ -n $go_bin ]]; then
  log "go: $go_bin ($("$go_bin" version))"
else
  log "WARNING: Go not found; collector/build.sh needs Go >= 1.24 (or set AZORA_OTELCOL_BIN)"
fi
