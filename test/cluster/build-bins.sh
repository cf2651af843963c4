#!/usr/bin/env bash
# Builds (once) the local control plane's binaries from the Go module proxy and prints the directory that holds them.
#
#   build-bins.sh             etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok
#   build-bins.sh kueue       Kueue's manager (opt-in): prints a directory with `kueue` and `module` (its source)
#   build-bins.sh karpenter   Karpenter with its KWOK provider (opt-in): `karpenter` and `module`
#   build-bins.sh realnode    the real node's kubelet, kube-proxy and CoreDNS (opt-in): a directory with the three
#
# Resolution per control-plane binary, first match wins:
#   1. $KUBEBUILDER_ASSETS/<name>        used as it is (the envtest convention)
#   2. <name> on PATH                    used when its --version is the pinned one
#   3. the cache, keyed by version       built here when missing: $COLLAB_CACHE_DIR (default ~/.cache/collab-operator)
# The printed directory holds a symlink per binary. Progress goes to stderr; only the directory goes to stdout.
set -euo pipefail
shopt -s inherit_errexit  # a failed build inside $(resolve ...) must stop the script
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache=${COLLAB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/collab-operator}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
log() { printf '[build-bins] %s\n' "$*" >&2; }

k8s_dir=$cache/bin/kubernetes-$KUBERNETES_VERSION
etcd_dir=$cache/bin/etcd-$ETCD_VERSION
kwok_dir=$cache/bin/kwok-$KWOK_VERSION
kueue_dir=$cache/bin/kueue-$KUEUE_VERSION
karpenter_dir=$cache/bin/karpenter-$KARPENTER_VERSION
node_dir=$cache/bin/kubernetes-node-$KUBERNETES_VERSION
coredns_dir=$cache/bin/coredns-$COREDNS_VERSION-$(cat "$here/tools/coredns"/go.* "$here/tools/coredns"/*.go | sha256sum | cut -c1-12)
links=$cache/bin/links-$KUBERNETES_VERSION-$ETCD_VERSION-$KWOK_VERSION

# build <out-dir> <wrapper-dir> <ldflags> <output-name|""> <packages...>: builds into a scratch dir and renames it into
# place, so an interrupted build never leaves a half-filled cache entry behind. With several packages the binaries
# are named after them; a single package may be given its own name.
build() {
  local out=$1 wrapper=$2 ldflags=$3 name=$4; shift 4
  local tmp="$out.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  log "building $(basename "$out") from the Go module proxy (cold builds take minutes; see README)"
  local start=$SECONDS
  (cd "$here/tools/$wrapper" && go build -p 2 -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ldflags" -o "$tmp/$name" "$@")
  rm -rf "$out"; mv "$tmp" "$out"
  log "built $(basename "$out") in $((SECONDS - start)) s"
}

k8s_ldflags() {
  local minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  local flags="-s -w" pkg
  # Stamp the version as upstream's hack/lib/version.sh does, so /version and --version report the real release.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=0000000000000000000000000000000000000000"
    flags+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  printf '%s' "$flags"
}

# resolve <name> <pinned-version-substring> <cache-dir> <build-thunk>: prints the path of the binary to use.
resolve() {
  local name=$1 pinned=$2 dir=$3 thunk=$4 found
  if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/$name" ]; then
    log "$name: using \$KUBEBUILDER_ASSETS/$name"; printf '%s' "$KUBEBUILDER_ASSETS/$name"; return
  fi
  if found=$(command -v "$name" 2>/dev/null) && "$found" --version 2>&1 | grep -q -- "$pinned"; then
    log "$name: using $found from PATH"; printf '%s' "$found"; return
  fi
  [ -x "$dir/$name" ] || "$thunk"
  printf '%s' "$dir/$name"
}

build_k8s() {
  build "$k8s_dir" k8s "$(k8s_ldflags)" "" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
}
# The node's binaries come from the same wrapper module as the control plane's, so they are the same release.
build_node() {
  build "$node_dir" k8s "$(k8s_ldflags)" "" k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
}
build_coredns() {
  grep -qE "^require github.com/coredns/coredns $COREDNS_VERSION$" "$here/tools/coredns/go.mod" ||
    { log "tools/coredns/go.mod does not require github.com/coredns/coredns $COREDNS_VERSION (versions.env)"; exit 1; }
  build "$coredns_dir" coredns "-s -w" coredns .
}
build_etcd() { build "$etcd_dir" etcd "-s -w" etcd go.etcd.io/etcd/server/v3; }
build_kwok() { build "$kwok_dir" kwok "-s -w" kwok sigs.k8s.io/kwok/cmd/kwok; }
build_kueue() {
  build "$kueue_dir" kueue "-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$KUEUE_VERSION" kueue \
    sigs.k8s.io/kueue/cmd/kueue
}
build_karpenter() {
  build "$karpenter_dir" karpenter "-s -w -X sigs.k8s.io/karpenter/pkg/operator.Version=$KARPENTER_VERSION" karpenter \
    sigs.k8s.io/karpenter/kwok
}

# module_dir <wrapper> <module>: where the Go module cache holds a pinned module's source (CRDs, manifests, stages).
module_dir() { (cd "$here/tools/$1" && go mod download -json "$2" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); }

# complete <links-dir> <entries...>: whether a links directory made earlier has every entry (binaries executable, the
# rest present). A complete one is never made again: tests on several clusters start binaries from it meanwhile, and
# re-making it leaves a moment without it (rm, then mv).
complete() {
  local dir=$1; shift
  for entry in "$@"; do [ -x "$dir/$entry" ] || return 1; done
}

# optional <name> <module> <dir> <build-thunk>: an opt-in component's binary beside a link to its module source.
optional() {
  local name=$1 module=$2 dir=$3 thunk=$4
  local out="$cache/bin/links-$(basename "$dir")" tmp
  if complete "$out" "$name" module; then printf '%s\n' "$out"; return; fi
  [ -x "$dir/$name" ] || "$thunk"
  tmp="$out.tmp.$$"; rm -rf "$tmp"; mkdir -p "$tmp"
  ln -s "$dir/$name" "$tmp/$name"
  ln -s "$(module_dir "$name" "$module")" "$tmp/module"
  rm -rf "$out"; mv "$tmp" "$out"
  printf '%s\n' "$out"
}

# ---- `build-bins.sh tools`: helm, lua-health, kstatus and flux-health (the chart and GitOps tests), in a links directory of their
# own so the control plane's build and these never wait for each other's changes. Each wrapper is cached by its
# pinned version and a hash of its module files (lua-health and kstatus are mains of ours).
if [ "${1:-}" = tools ]; then
  mkdir -p "$cache/bin"
  exec 8>"$cache/bin/.lock-tools"
  flock 8   # its own lock: a cold control-plane build elsewhere need not hold these up
  tool_dir() { printf '%s/bin/%s-%s-%s' "$cache" "$1" "$2" "$(cat "$here/tools/$1"/go.* "$here/tools/$1"/*.go 2>/dev/null | sha256sum | cut -c1-12)"; }
  pinned() { # <wrapper> <module> <version>: the wrapper's go.mod must require the version versions.env pins
    grep -qE "(^|\s)$2 $3( |$)" "$here/tools/$1/go.mod" || { log "tools/$1/go.mod does not require $2 $3 (versions.env)"; exit 1; }
  }
  pinned helm helm.sh/helm/v3 "$HELM_VERSION"
  pinned lua-health github.com/yuin/gopher-lua "$GOPHER_LUA_VERSION"
  pinned kstatus sigs.k8s.io/cli-utils "$CLI_UTILS_VERSION"
  pinned flux-health github.com/google/cel-go "$CEL_GO_VERSION"
  helm_dir=$(tool_dir helm "$HELM_VERSION"); lua_dir=$(tool_dir lua-health "$GOPHER_LUA_VERSION")
  kstatus_dir=$(tool_dir kstatus "$CLI_UTILS_VERSION"); flux_dir=$(tool_dir flux-health "$CEL_GO_VERSION")
  [ -x "$helm_dir/helm" ] || build "$helm_dir" helm "-s -w" helm helm.sh/helm/v3/cmd/helm
  [ -x "$lua_dir/lua-health" ] || build "$lua_dir" lua-health "-s -w" lua-health .
  [ -x "$kstatus_dir/kstatus" ] || build "$kstatus_dir" kstatus "-s -w" kstatus .
  [ -x "$flux_dir/flux-health" ] || build "$flux_dir" flux-health "-s -w" flux-health .
  tool_links="$cache/bin/tools-links-$(basename "$helm_dir")-$(basename "$lua_dir")-$(basename "$kstatus_dir")-$(basename "$flux_dir")"
  if complete "$tool_links" helm lua-health kstatus flux-health; then printf '%s\n' "$tool_links"; exit 0; fi
  tmp_links="$tool_links.tmp.$$"
  rm -rf "$tmp_links"; mkdir -p "$tmp_links"
  ln -s "$helm_dir/helm" "$tmp_links/helm"; ln -s "$lua_dir/lua-health" "$tmp_links/lua-health"
  ln -s "$kstatus_dir/kstatus" "$tmp_links/kstatus"; ln -s "$flux_dir/flux-health" "$tmp_links/flux-health"
  rm -rf "$tool_links"; mv "$tmp_links" "$tool_links"
  printf '%s\n' "$tool_links"
  exit 0
fi

mkdir -p "$cache/bin"
exec 9>"$cache/bin/.lock"
flock 9   # one build at a time, even when several test runs start together

case "${1:-}" in
  "") ;;
  kueue) optional kueue sigs.k8s.io/kueue "$kueue_dir" build_kueue; exit ;;
  karpenter) optional karpenter sigs.k8s.io/karpenter "$karpenter_dir" build_karpenter; exit ;;
  realnode)
    out="$cache/bin/links-$(basename "$node_dir")-$(basename "$coredns_dir")"
    if complete "$out" kubelet kube-proxy coredns; then printf '%s\n' "$out"; exit 0; fi
    [ -x "$node_dir/kubelet" ] && [ -x "$node_dir/kube-proxy" ] || build_node
    [ -x "$coredns_dir/coredns" ] || build_coredns
    tmp="$out.tmp.$$"; rm -rf "$tmp"; mkdir -p "$tmp"
    ln -s "$node_dir/kubelet" "$tmp/kubelet"; ln -s "$node_dir/kube-proxy" "$tmp/kube-proxy"
    ln -s "$coredns_dir/coredns" "$tmp/coredns"
    rm -rf "$out"; mv "$tmp" "$out"
    printf '%s\n' "$out"; exit ;;
  *) log "unknown component '$1' (expected kueue, karpenter or realnode)"; exit 2 ;;
esac

if complete "$links" kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok kwok-stages; then
  printf '%s\n' "$links"; exit 0
fi
tmp_links="$links.tmp.$$"
rm -rf "$tmp_links"; mkdir -p "$tmp_links"
for name in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  ln -s "$(resolve "$name" "$KUBERNETES_VERSION" "$k8s_dir" build_k8s)" "$tmp_links/$name"
done
ln -s "$(resolve etcd "${ETCD_VERSION#v}" "$etcd_dir" build_etcd)" "$tmp_links/etcd"
ln -s "$(resolve kwok "${KWOK_VERSION#v}" "$kwok_dir" build_kwok)" "$tmp_links/kwok"
# KWOK v0.8 ships no built-in stages; the harness reads upstream's from the module it was built from.
ln -s "$(module_dir kwok sigs.k8s.io/kwok)/kustomize/stage" "$tmp_links/kwok-stages"
rm -rf "$links"; mv "$tmp_links" "$links"
printf '%s\n' "$links"
