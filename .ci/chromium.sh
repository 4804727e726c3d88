#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests of the playground; prints its path on the last line.
# Needs root (CI runs as root). Playwright drives this binary: it never downloads a browser of its own.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v chromium >/dev/null; then
  apt-get update -qq >&2
  # The emoji font: the pages' 👍/👎 show in the tests' screenshots.
  apt-get install -y -qq --no-install-recommends chromium fonts-noto-color-emoji >&2
fi
command -v chromium
