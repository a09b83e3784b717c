#!/usr/bin/env bash
# System libraries Guichet needs beside its Python packages: libmagic (the
# content-type detection of uploads, through python-magic) and the DejaVu
# fonts (every French character and € in PDFs). Installed from Debian's
# packages when missing; nothing is done when they are there.
set -euo pipefail
missing=()
ldconfig -p 2>/dev/null | grep -q 'libmagic\.so\.1' || missing+=(libmagic1)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
  echo "missing system packages: ${missing[*]} (install them with apt-get as root)" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "installing ${missing[*]}" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
