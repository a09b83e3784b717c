#!/usr/bin/env bash
# System libraries Guichet needs beside its Python packages: libmagic (the
# content-type detection of uploads, through python-magic), the DejaVu fonts
# (every French character and € in PDFs) and Debian's Chromium (the browser
# of the end-to-end tests, driven by Playwright without any browser
# download). Installed from Debian's packages when missing; nothing is done
# when they are there. Then axe-core (the accessibility rules the browser
# tests run) is fetched from the npm registry into tests/e2e/vendor/.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
ldconfig -p 2>/dev/null | grep -q 'libmagic\.so\.1' || missing+=(libmagic1)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
    echo "missing system packages: ${missing[*]} (install them with apt-get as root)" >&2
    exit 1
  fi
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "installing ${missing[*]}" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# axe-core, pinned, from the npm registry (npm pack: no node_modules, no scripts run).
AXE_VERSION=4.14.1
VENDOR=tests/e2e/vendor
if [ ! -f "$VENDOR/axe-$AXE_VERSION.min.js" ]; then
  if command -v npm >/dev/null; then
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null && tar -xzf "axe-core-$AXE_VERSION.tgz")
    mkdir -p "$VENDOR"
    cp "$tmp/package/axe.min.js" "$VENDOR/axe-$AXE_VERSION.min.js"
    rm -rf "$tmp"
  else
    echo "npm not found: the accessibility checks of the browser tests will be skipped" >&2
  fi
fi
