#!/usr/bin/env bash
# Installs the Debian packages clipgrad builds and runs with. Idempotent: does
# nothing when they are all present. Run as root (or with sudo available).
set -euo pipefail

packages=(cmake make g++ pkg-config libopenblas-openmp-dev nlohmann-json3-dev libcli11-dev libstb-dev zlib1g-dev
          libgtest-dev libgmock-dev libbenchmark-dev dataset-fashion-mnist wordnet-base
          libopenmpi-dev openmpi-bin libboost-context-dev libjpeg62-turbo-dev libwebp-dev)

missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
echo "installing: ${missing[*]}"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
