#!/usr/bin/env bash
# Block replay's guest for the action's cell step: qemu-system and Debian's kernel of the cell's
# architecture (scripts/install-guest.sh, which installs with apt and caches the kernel), and on
# GitHub's x64 runners access to KVM through a udev rule, so the guest runs at native speed
# (arm64 runners have no /dev/kvm; elsewhere the cell falls back to software emulation by
# itself). This step may fail without failing the job: the cell then records block replay as
# SKIP with the reason, and a policy that requires block replay blocks on it.
#
# Inputs (environment): PM_ARCH (the cell's architecture, Debian name), RUNNER_ARCH,
# RUNNER_ENVIRONMENT (github-hosted on GitHub's own runners).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=dist/lib.sh
source "$here/lib.sh"

arch=${PM_ARCH:?PM_ARCH names the cell architecture}

pm_group "Block replay's guest: qemu-system and Debian's $arch kernel"
if [[ ${RUNNER_ENVIRONMENT:-} == github-hosted && ${RUNNER_ARCH:-} == X64 && -e /dev/kvm ]]; then
  # GitHub's documented way to let the runner user open /dev/kvm.
  echo 'KERNEL=="kvm", GROUP="kvm", MODE="0666", OPTIONS+="static_node=kvm"' |
    pm_as_root tee /etc/udev/rules.d/99-portability-matrix-kvm.rules >/dev/null
  pm_as_root udevadm control --reload-rules
  pm_as_root udevadm trigger --name-match=kvm
  echo "KVM: /dev/kvm opened to the runner user"
else
  echo "KVM: not set up here (runner ${RUNNER_ENVIRONMENT:-unknown}/${RUNNER_ARCH:-unknown}); block replay uses software emulation if KVM does not work"
fi
bash "$here/../scripts/install-guest.sh" "$arch"
pm_endgroup
