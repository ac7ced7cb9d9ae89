#!/usr/bin/env bash
# Installs what block replay needs to boot a real kernel of one architecture under QEMU, without
# installing that kernel on the host: qemu-system for the architecture, and Debian's cloud kernel
# package for it, downloaded with `apt-get download`, extracted with `dpkg -x` and cached in
#   ${XDG_CACHE_HOME:-$HOME/.cache}/portability-matrix/guest/<arch>/
# with a file `kernel.env` naming the package, its version, and the sha256 of the .deb and of
# vmlinuz: the evidence records them. Beside it, busybox-static of the same architecture
# (`busybox`), likewise downloaded and extracted, never installed: the guest's loop devices are
# set up with its losetup. The cloud flavour is the smallest Debian kernel that
# builds virtio and xfs (as modules) and ext4 (built in).
#
# The kernel's ABI number is looked up through the metapackage (`apt-cache depends
# linux-image-cloud-<arch>`); never glob the package name, `apt-get download linux-image-6.1.0-*`
# fetches every flavour. Idempotent: a cache whose .deb still has the recorded sha256 is kept.
#
# Usage: scripts/install-guest.sh ARCH      (amd64 or arm64)
#        GUEST_CACHE=DIR overrides the cache root; APT_UPDATE=no skips `apt-get update`.
set -euo pipefail

ARCH=${1:-}
say() { echo "install-guest: $*" >&2; }
case $ARCH in
  amd64) QEMU_PKG=qemu-system-x86; QEMU_BIN=qemu-system-x86_64 ;;
  arm64) QEMU_PKG=qemu-system-arm; QEMU_BIN=qemu-system-aarch64 ;;
  *) say "usage: $0 amd64|arm64 (riscv64 and s390x guests are not supported yet)"; exit 2 ;;
esac

sudo=""
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi

missing_pkgs() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
  done
}
apt_updated=0
apt_update() {
  if ((apt_updated == 0)) && [[ ${APT_UPDATE:-auto} != no ]]; then
    say "apt-get update"
    $sudo apt-get update -qq
    apt_updated=1
  fi
}
apt_install() {
  local missing
  mapfile -t missing < <(missing_pkgs "$@")
  ((${#missing[@]})) || return 0
  apt_update
  say "installing ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# 1. The emulator, and the tools that make and inspect the guest's disks. (The initramfs is
#    written by the binary itself; cpio is only for looking inside one.)
apt_install "$QEMU_PKG" qemu-utils cpio xfsprogs e2fsprogs
command -v "$QEMU_BIN" >/dev/null || { say "$QEMU_BIN missing after installing $QEMU_PKG"; exit 1; }

# 2. The kernel package of that architecture, from Debian's archive.
if [[ $ARCH != "$(dpkg --print-architecture)" ]] &&
  ! dpkg --print-foreign-architectures | grep -qx "$ARCH"; then
  say "dpkg --add-architecture $ARCH"
  $sudo dpkg --add-architecture "$ARCH"
  apt_updated=0
  apt_update
fi
QUAL=""
[[ $ARCH != "$(dpkg --print-architecture)" ]] && QUAL=":$ARCH"

meta="linux-image-cloud-$ARCH"
find_pkg() {
  apt-cache depends "$meta$QUAL" 2>/dev/null |
    sed -n "s/^ *Depends: \(linux-image-[0-9][^:]*-cloud-$ARCH\)\(:$ARCH\)\?$/\1/p" | head -n1
}
pkg=$(find_pkg)
if [[ -z $pkg ]]; then
  apt_update
  pkg=$(find_pkg)
fi
[[ -n $pkg ]] || { say "apt-cache depends $meta$QUAL names no kernel package"; exit 1; }
version=$(apt-cache show "$pkg$QUAL" 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
[[ -n $version ]] || { say "apt-cache show $pkg$QUAL gives no version"; exit 1; }

# busybox-static of the guest's architecture, extracted into DIR/busybox (recorded in busybox.env).
fetch_busybox() {
  local d=$1 bdeb bver
  bver=$(apt-cache show "busybox-static$QUAL" 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
  [[ -n $bver ]] || { say "apt-cache show busybox-static$QUAL gives no version"; exit 1; }
  mkdir -p "$d/bb"
  (cd "$d/bb" && apt-get download -q "busybox-static$QUAL=$bver" >/dev/null)
  bdeb=$(cd "$d/bb" && ls -- *.deb)
  dpkg -x "$d/bb/$bdeb" "$d/bb/root"
  cp "$d/bb/root/bin/busybox" "$d/busybox"
  printf 'BUSYBOX_VERSION=%s\nBUSYBOX_SHA256=%s\n' "$bver" "$(sha256sum "$d/busybox" | cut -d' ' -f1)" >"$d/busybox.env"
  rm -rf "$d/bb"
}

root=${GUEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/portability-matrix/guest}
dir=$root/$ARCH
env_file=$dir/kernel.env
if [[ -f $env_file ]]; then
  # shellcheck disable=SC1090
  cached_pkg=$(. "$env_file"; echo "$KERNEL_PACKAGE $KERNEL_VERSION $KERNEL_DEB_SHA256 $KERNEL_DEB")
  read -r c_pkg c_ver c_sha c_deb <<<"$cached_pkg"
  if [[ $c_pkg == "$pkg" && $c_ver == "$version" && -f $dir/$c_deb ]] &&
    [[ $(sha256sum "$dir/$c_deb" | cut -d' ' -f1) == "$c_sha" && -d $dir/root/lib/modules ]]; then
    [[ -x $dir/busybox ]] || fetch_busybox "$dir"
    say "$ARCH: $pkg $version cached in $dir"
    exit 0
  fi
fi

say "$ARCH: fetching $pkg $version"
rm -rf "$dir.new"
mkdir -p "$dir.new"
chmod 755 "$dir.new"
(cd "$dir.new" && apt-get download -q "$pkg$QUAL=$version" >/dev/null)
deb=$(cd "$dir.new" && ls -- *.deb)
[[ $(wc -w <<<"$deb") -eq 1 ]] || { say "expected one .deb, got: $deb"; exit 1; }
dpkg -x "$dir.new/$deb" "$dir.new/root"
vmlinuz=$(cd "$dir.new/root/boot" && ls vmlinuz-*)
kver=${vmlinuz#vmlinuz-}
[[ -d $dir.new/root/lib/modules/$kver ]] || { say "no modules for $kver in $deb"; exit 1; }
cat >"$dir.new/kernel.env" <<EOF
KERNEL_ARCH=$ARCH
KERNEL_PACKAGE=$pkg
KERNEL_VERSION=$version
KERNEL_RELEASE=$kver
KERNEL_DEB=$deb
KERNEL_DEB_SHA256=$(sha256sum "$dir.new/$deb" | cut -d' ' -f1)
KERNEL_VMLINUZ=root/boot/$vmlinuz
KERNEL_VMLINUZ_SHA256=$(sha256sum "$dir.new/root/boot/$vmlinuz" | cut -d' ' -f1)
KERNEL_MODULES=root/lib/modules/$kver
EOF
fetch_busybox "$dir.new"
rm -rf "$dir"
mv "$dir.new" "$dir"
say "$ARCH: $pkg $version in $dir"
cat "$dir/kernel.env" >&2
