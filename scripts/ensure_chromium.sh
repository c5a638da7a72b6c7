#!/usr/bin/env bash
# Make sure Debian's headless chromium is there for tests/test_report.py: installs it with apt-get when it is
# missing (as root, or through password-less sudo), else says in one line what to do.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo="sudo"
else
  echo "error: tests/test_report.py needs Debian's chromium, which is not installed, and this user can" \
       "neither apt-get (not root) nor sudo without a password: run 'sudo apt-get install chromium' once." >&2
  exit 1
fi
echo "installing Debian's chromium (needed by tests/test_report.py)"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "error: apt-get did not install chromium" >&2; exit 1; }
