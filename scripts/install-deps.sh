#!/bin/sh
# install-deps.sh: install the Debian packages blockd needs to build and test.
# A no-op when everything is already installed; otherwise runs apt-get as root.
set -eu

PKGS="
build-essential pkg-config meson ninja-build python3
libglib2.0-dev libjson-c-dev liburing-dev libaio-dev zlib1g-dev libzstd-dev
systemtap-sdt-dev
qemu-utils qemu-system-common qemu-block-extra
libnbd-bin nbdkit fio
"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

echo "install-deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
