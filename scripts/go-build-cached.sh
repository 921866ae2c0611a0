#!/usr/bin/env bash
# Build main packages of a pinned Go module once, and cache the binaries.
#
#   go-build-cached.sh --name NAME --module MODULE@VERSION [--tags TAGS] [--ldflags FLAGS] \
#       [--ldflags-build FLAGS] --bin NAME=PACKAGE [--bin NAME=PACKAGE ...]
#
# prints the cache directory holding the binaries as the last (only) line on stdout,
# progress on stderr. The directory is
#   ${AZORA_CACHE_DIR:-$HOME/.cache/azora-otel}/NAME-VERSION-<hash>/
# where <hash> is the first 12 hex digits of the sha256 of the recipe (module,
# version, packages, tags, --ldflags, -trimpath): change any of them and the next
# run builds anew; an unchanged recipe is reused without Go. --ldflags-build is
# added to the link but not to the key (a build date, for example).
#
# How it builds: a scratch module requires MODULE@VERSION as a tool (`go get -tool`,
# which resolves exactly the versions of MODULE's go.mod, as `go install pkg@version`
# would, but also works for modules whose go.mod has replace directives), then ONE
# `go build -trimpath -tags TAGS -ldflags "-s -w FLAGS" -o DIR/ PKG...`, so the
# packages the binaries share are compiled once. Go's own caches (GOMODCACHE,
# GOCACHE, GOFLAGS) apply as usual; builds of the same cache directory are
# serialized with flock.
#
# Environment: AZORA_CACHE_DIR, GO (default: go on PATH, then /usr/local/go/bin/go).
set -euo pipefail

NAME="" MODULE="" TAGS="" LDFLAGS="" LDFLAGS_BUILD=""
BINS=()
while (($#)); do
  case $1 in
    --name) NAME=$2; shift 2 ;;
    --module) MODULE=$2; shift 2 ;;
    --tags) TAGS=$2; shift 2 ;;
    --ldflags) LDFLAGS=$2; shift 2 ;;
    --ldflags-build) LDFLAGS_BUILD=$2; shift 2 ;;
    --bin) BINS+=("$2"); shift 2 ;;
    *) printf 'go-build-cached.sh: unknown argument %q\n' "$1" >&2; exit 2 ;;
  esac
done

log() { printf '[%s build] %s\n' "$NAME" "$*" >&2; }
die() { printf '[%s build] ERROR: %s\n' "$NAME" "$*" >&2; exit 1; }

[[ -n $NAME && $MODULE == *@* && ${#BINS[@]} -gt 0 ]] \
  || die "usage: --name NAME --module MODULE@VERSION --bin NAME=PACKAGE..."
VERSION=${MODULE#*@}
MODPATH=${MODULE%@*}

CACHE_ROOT="${AZORA_CACHE_DIR:-$HOME/.cache/azora-otel}"
RECIPE=$(printf 'module=%s\nversion=%s\ntags=%s\nldflags=-s -w %s\ntrimpath=1\nbins=%s\n' \
  "$MODPATH" "$VERSION" "$TAGS" "$LDFLAGS" "${BINS[*]}")
HASH=$(printf '%s' "$RECIPE" | sha256sum | cut -c1-12)
DEST="$CACHE_ROOT/$NAME-$VERSION-$HASH"

complete() {
  local spec
  for spec in "${BINS[@]}"; do
    [[ -x "$DEST/${spec%%=*}" ]] || return 1
  done
}

if complete; then
  log "cached build $DEST"
  printf '%s\n' "$DEST"
  exit 0
fi

GO_BIN="${GO:-}"
if [[ -z $GO_BIN ]]; then
  if command -v go >/dev/null 2>&1; then
    GO_BIN=$(command -v go)
  elif [[ -x /usr/local/go/bin/go ]]; then
    GO_BIN=/usr/local/go/bin/go
  fi
fi
[[ -n $GO_BIN && -x $GO_BIN ]] || die "Go is required to build $NAME but no 'go' was found on PATH or at /usr/local/go/bin/go.
Install Go >= 1.26 (https://go.dev/dl/) or set GO=/path/to/go."

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.build-$NAME.lock"
if command -v flock >/dev/null 2>&1; then
  log "waiting for the build lock $CACHE_ROOT/.build-$NAME.lock"
  flock 9
  if complete; then
    log "another process built it meanwhile: $DEST"
    printf '%s\n' "$DEST"
    exit 0
  fi
fi

START=$SECONDS
WORK=$(mktemp -d "$CACHE_ROOT/build-$NAME-$HASH.XXXXXX")
TICKER=""
trap 'rm -rf "$WORK"; [[ -n $TICKER ]] && kill "$TICKER" 2>/dev/null || true' EXIT
# go build prints nothing for many minutes on a cold cache: keep a heartbeat.
( while sleep 30; do log "... still building ($((SECONDS - START))s elapsed)"; done ) &
TICKER=$!

log "using $("$GO_BIN" version); recipe $HASH:"
printf '%s\n' "$RECIPE" | sed 's/^/    /' >&2
cd "$WORK"
"$GO_BIN" mod init azora-otel.local/build-"$NAME" >/dev/null 2>&1
PKGS=()
for spec in "${BINS[@]}"; do PKGS+=("$MODPATH/${spec#*=}"); done
log "resolving $MODULE (go get -tool; downloads on a cold module cache)"
TOOLS=()
for pkg in "${PKGS[@]}"; do TOOLS+=("$pkg@$VERSION"); done
"$GO_BIN" get -tool "${TOOLS[@]}" >"$WORK/get.log" 2>&1 \
  || { cat "$WORK/get.log" >&2; die "go get -tool ${TOOLS[*]} failed (is the Go module proxy reachable? GOPROXY=$("$GO_BIN" env GOPROXY))"; }
log "compiling ${PKGS[*]} (cold: many minutes; warm Go build cache: about a minute)"
mkdir -p "$WORK/out"
"$GO_BIN" build -trimpath -tags "$TAGS" -ldflags "-s -w $LDFLAGS $LDFLAGS_BUILD" \
  -o "$WORK/out/" "${PKGS[@]}" >&2 || die "go build failed (see above)"

mkdir -p "$DEST"
printf '%s\n' "$RECIPE" >"$DEST/recipe.txt"
for spec in "${BINS[@]}"; do
  bin=${spec%%=*}
  built="$WORK/out/$(basename "${spec#*=}")"
  [[ -x $built ]] || die "go build finished but $built is missing"
  # Into place atomically: a half-copied binary is never picked up.
  mv "$built" "$DEST/$bin.tmp"
  mv "$DEST/$bin.tmp" "$DEST/$bin"
done
log "built in $((SECONDS - START))s: $DEST"
printf '%s\n' "$DEST"
