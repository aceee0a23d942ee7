#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, when it is
# missing: OpenSSH's server (the SSH transport tests start a real sshd on a
# loopback port) and client (ssh, ssh-agent, ssh-add, ssh-keygen), script(1)
# (the README test), git, openssl (the TLS tests' certificates and second
# client), Chromium and playwright-core (the dashboard's browser tests),
# PyJWT (the JOSE interop test), and schemathesis (the API's
# property tests, crates/bosun/tests/api_fuzz.rs) in a venv of its own. Safe to run again: it installs nothing that is already there.
set -euo pipefail

need_apt=()
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
# The client package brings ssh, ssh-agent, ssh-add and ssh-keygen (the
# ssh-agent signing tests start a real agent).
for tool in ssh ssh-agent ssh-add ssh-keygen; do
  if ! command -v "$tool" >/dev/null; then
    need_apt+=(openssh-client)
    break
  fi
done
# script(1) runs the README's commands under a pseudo-terminal (tests/readme.rs);
# git is the ledger mirror's and the README's.
command -v script >/dev/null || need_apt+=(bsdutils)
command -v git >/dev/null || need_apt+=(git)
# openssl makes the certificates of the TLS tests (tests/tls.rs) and is
# their second TLS client (s_client).
command -v openssl >/dev/null || need_apt+=(openssl)
# Debian's Chromium for the dashboard's browser tests (tests/web.rs), and
# Node.js to drive it with playwright-core (tests/browser/).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v node >/dev/null || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  if ! "${as_root[@]}" apt-get install -y -q "${need_apt[@]}"; then
    "${as_root[@]}" apt-get update -q
    "${as_root[@]}" apt-get install -y -q "${need_apt[@]}"
  fi
fi

# playwright-core, pinned by tests/browser/package-lock.json (it drives
# Debian's Chromium; it downloads no browser of its own).
browser_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
if [ ! -d "$browser_dir/node_modules/playwright-core" ]; then
  (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

if ! python3 -c 'import jwt, cryptography' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check pyjwt cryptography
fi

# Three system users for the trust-boundary test (tests/two_users.rs): the
# daemon runs as one and owns the state; an agent and an operator run as
# the others (members of the daemon's group, which the API socket grants
# access to).
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo -n)
if ! id -u bosun-test-daemon >/dev/null 2>&1; then
  "${as_root[@]}" useradd --system --user-group --no-create-home \
    --shell /usr/sbin/nologin bosun-test-daemon
fi
if ! id -u bosun-test-agent >/dev/null 2>&1; then
  "${as_root[@]}" useradd --system --user-group --no-create-home \
    --shell /usr/sbin/nologin --groups bosun-test-daemon bosun-test-agent
fi
if ! id -u bosun-test-operator >/dev/null 2>&1; then
  "${as_root[@]}" useradd --system --user-group --no-create-home \
    --shell /usr/sbin/nologin --groups bosun-test-daemon bosun-test-operator
fi

# schemathesis, pinned, in a venv of its own (its many dependencies stay out
# of the system Python): crates/bosun/tests/api_fuzz.rs reads the version
# from the line below and runs $venv/bin/schemathesis. A marker written
# last means a half-finished install is redone, not used.
SCHEMATHESIS_VERSION=4.32.5
st_venv="${BOSUN_TOOLS_DIR:-$HOME/.cache/bosun}/schemathesis-$SCHEMATHESIS_VERSION"
if [ ! -f "$st_venv/.installed" ]; then
  rm -rf "$st_venv"
  mkdir -p "$(dirname "$st_venv")"
  if ! python3 -m venv "$st_venv"; then
    # Debian's own python3 keeps venv in a package of its own.
    rm -rf "$st_venv"
    as_root=()
    [ "$(id -u)" -eq 0 ] || as_root=(sudo)
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q python3-venv \
      || { "${as_root[@]}" apt-get update -q && DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q python3-venv; }
    python3 -m venv "$st_venv"
  fi
  PIP_NO_INPUT=1 "$st_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION"
  "$st_venv/bin/schemathesis" --version >/dev/null
  touch "$st_venv/.installed"
fi
