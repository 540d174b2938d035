#!/usr/bin/env bash
# tlsfit set-up: Debian packages and the pinned mbedTLS source.
# Idempotent: every step checks first and returns at once when already done.
# Usage: scripts/setup.sh            (MBEDTLS_DIR=/path uses your own tree)
#        TLSFIT_SKIP_PACKAGES=1 skips the Debian package check (the .deb already depends on them)
#        TLSFIT_APT_LOCK_WAIT=S: seconds to wait for another apt/dpkg to release its lock (default 120)
# The pinned mbedTLS release (version, Debian version, sha256) is generator/pin.py, read through
# `tlsfit setup --print-pin` (standard-library Python: works before python3-yaml is installed).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# TLSFIT_DEPS: where the mbedTLS source goes (an installed tlsfit passes its user cache).
DEPS="${TLSFIT_DEPS:-$ROOT/build/deps}"
SRC_LIST=/etc/apt/sources.list.d/tlsfit-trixie-src.sources
LOCK_WAIT="${TLSFIT_APT_LOCK_WAIT:-120}"
LOCK_POLL_S=3

# Debian package -> a file it installs (checked instead of dpkg to stay fast).
PACKAGES=(
  "gcc-arm-none-eabi:/usr/bin/arm-none-eabi-gcc"
  "libnewlib-arm-none-eabi:/usr/lib/arm-none-eabi/newlib"
  "binutils-arm-none-eabi:/usr/bin/arm-none-eabi-size"
  "qemu-system-arm:/usr/bin/qemu-system-arm"
  # the RV32 board (ports/riscv32-virt): compiler, binutils, picolibc (rv32imac/ilp32 multilib), QEMU
  "gcc-riscv64-unknown-elf:/usr/bin/riscv64-unknown-elf-gcc"
  "binutils-riscv64-unknown-elf:/usr/bin/riscv64-unknown-elf-ar"
  "picolibc-riscv64-unknown-elf:/usr/lib/picolibc/riscv64-unknown-elf/lib/rv32imac/ilp32/libc.a"
  "qemu-system-misc:/usr/bin/qemu-system-riscv32"
  "openssl:/usr/bin/openssl"
  "gnutls-bin:/usr/bin/gnutls-serv"
  # CoAP over DTLS servers for tests/test_coap.py (app coap)
  "libcoap3-bin:/usr/bin/coap-server-openssl"
  "gcc:/usr/bin/gcc"
  "make:/usr/bin/make"
  # reuses mbedTLS library objects across configs (measure/object_cache.py); optional at run time
  "ccache:/usr/bin/ccache"
  "bzip2:/usr/bin/bzip2"
  "dpkg-dev:/usr/bin/dpkg-source"
  "python3:/usr/bin/python3"
  "python3-jinja2:/usr/lib/python3/dist-packages/jinja2"
  "python3-yaml:/usr/lib/python3/dist-packages/yaml"
  # profiles written by probe and tune keep comments and layout (generator/profile_doc.py)
  "python3-ruamel.yaml:/usr/lib/python3/dist-packages/ruamel/yaml"
  "python3-pytest:/usr/lib/python3/dist-packages/pytest"
  "python3-pyelftools:/usr/lib/python3/dist-packages/elftools"
  "python3-hypothesis:/usr/lib/python3/dist-packages/hypothesis"
  # real servers and an independent scanner: measure --server and probe are proven against them
  "mosquitto:/usr/sbin/mosquitto"
  "nginx-light:/usr/sbin/nginx"
  "sslscan:/usr/bin/sslscan"
  "procps:/usr/bin/pgrep"
)

die() { echo "setup: error: $*" >&2; exit 1; }

# apt-get "$@", waiting (bounded: LOCK_WAIT seconds, polling) while another apt or dpkg holds its lock.
apt_get() {
  local waited=0 log status locked
  log=$(mktemp)
  while true; do
    status=0
    apt-get "$@" >/dev/null 2>"$log" || status=$?
    if [ "$status" -eq 0 ]; then rm -f "$log"; return 0; fi
    locked=0
    grep -qiE "could not get lock|unable to acquire the dpkg frontend lock|unable to lock (the )?(administration )?directory|another process using it" "$log" && locked=1
    if [ "$locked" -eq 1 ] && [ "$waited" -lt "$LOCK_WAIT" ]; then
      [ "$waited" -eq 0 ] && echo "setup: another apt/dpkg process holds its lock; waiting up to $LOCK_WAIT s" >&2
      sleep "$LOCK_POLL_S"
      waited=$((waited + LOCK_POLL_S))
      continue
    fi
    cat "$log" >&2
    rm -f "$log"
    [ "$locked" -eq 0 ] || die "the apt/dpkg lock is still held after $LOCK_WAIT s; let the other apt process finish (or set TLSFIT_APT_LOCK_WAIT) and run it again"
    return "$status"
  done
}

missing=()
[ -n "${TLSFIT_SKIP_PACKAGES:-}" ] && PACKAGES=()
for entry in "${PACKAGES[@]}"; do
  [ -e "${entry#*:}" ] || missing+=("${entry%%:*}")
done

apt_updated=0
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}"
  echo "setup: installing ${missing[*]}"
  apt_get update -q
  apt_updated=1
  DEBIAN_FRONTEND=noninteractive apt_get install -y -q --no-install-recommends "${missing[@]}"
fi

# the pin, from its one place (python3 is installed by now)
pin=$("$ROOT/tlsfit" setup --print-pin) || die "cannot read the mbedTLS pin (\`$ROOT/tlsfit setup --print-pin\` failed)"
eval "$pin"
: "${PIN_VERSION:?}" "${PIN_DEB_VERSION:?}" "${PIN_ORIG:?}" "${PIN_SHA256:?}"

if [ -n "${MBEDTLS_DIR:-}" ]; then
  [ -f "$MBEDTLS_DIR/include/mbedtls/build_info.h" ] \
    || die "MBEDTLS_DIR=$MBEDTLS_DIR is not an mbedTLS source tree (no include/mbedtls/build_info.h)"
  echo "setup: using MBEDTLS_DIR=$MBEDTLS_DIR"
  exit 0
fi

TREE="$DEPS/mbedtls-$PIN_VERSION"
[ -f "$TREE/.tlsfit-verified" ] && exit 0

mkdir -p "$DEPS"
if [ ! -f "$DEPS/$PIN_ORIG" ]; then
  [ "$(id -u)" -eq 0 ] || die "mbedTLS $PIN_VERSION source is not cached in $DEPS; run once as root (it adds a deb-src entry), or set MBEDTLS_DIR=/path/to/mbedtls-$PIN_VERSION"
  if [ ! -f "$SRC_LIST" ]; then
    echo "setup: adding Debian trixie deb-src entry ($SRC_LIST)"
    cat > "$SRC_LIST" <<SRC
# Added by tlsfit scripts/setup.sh: source of mbedTLS $PIN_DEB_VERSION.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt_updated=0
  fi
  [ $apt_updated -eq 1 ] || apt_get update -q
  echo "setup: fetching mbedTLS $PIN_DEB_VERSION from Debian's source package"
  fetch="$DEPS/fetch.$$"
  rm -rf "$fetch"; mkdir -p "$fetch"
  if ! (cd "$fetch" && apt-get source -q --download-only "mbedtls=$PIN_DEB_VERSION" >/dev/null 2>"$fetch/log"); then
    cat "$fetch/log" >&2
    die "Debian no longer serves mbedtls=$PIN_DEB_VERSION. Fallback: download mbedTLS $PIN_VERSION yourself and run with MBEDTLS_DIR=/path/to/mbedtls-$PIN_VERSION"
  fi
  mv "$fetch/$PIN_ORIG" "$DEPS/$PIN_ORIG.part"
  rm -rf "$fetch"
  echo "$PIN_SHA256  $DEPS/$PIN_ORIG.part" | sha256sum -c --quiet - \
    || { rm -f "$DEPS/$PIN_ORIG.part"; die "sha256 of $PIN_ORIG does not match the pinned $PIN_SHA256"; }
  mv "$DEPS/$PIN_ORIG.part" "$DEPS/$PIN_ORIG"
fi

echo "$PIN_SHA256  $DEPS/$PIN_ORIG" | sha256sum -c --quiet - \
  || die "cached $DEPS/$PIN_ORIG does not match the pinned sha256; delete it and rerun"
rm -rf "$TREE" "$TREE.part"
mkdir -p "$TREE.part"
tar -xjf "$DEPS/$PIN_ORIG" -C "$TREE.part" --strip-components=1
touch "$TREE.part/.tlsfit-verified"
mv "$TREE.part" "$TREE"
echo "setup: mbedTLS $PIN_VERSION ready in $TREE"
