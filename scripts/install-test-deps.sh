#!/usr/bin/env bash
# Installs the peers the tests use, from Debian's packages, when they are
# missing: mosquitto (a foreign broker), mosquitto-clients (foreign clients),
# chromium (browser pages), fonts-wqy-microhei (Chinese text in the pages'
# screenshots), qemu-user-static (running the arm64 build) and postgresql
# (HQ's replica; the tests start their own servers, never the system one),
# coturn (the TURN server a viewer at home reaches the store's camera
# through) and iproute2 (`ip netns`: the viewer "at home" in a network
# namespace), lintian, systemd and man-db (the Debian packages: below).
set -euo pipefail

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v turnserver >/dev/null 2>&1 || need+=(coturn)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || need+=(iproute2)
# Debian packages (make deb, packaging/): lintian lints them; systemd's
# systemd-analyze verifies the unit and its systemd-sysusers makes the user
# in the throwaway root; man (man-db) resolves the unit's Documentation=.
command -v lintian >/dev/null 2>&1 || need+=(lintian)
{ command -v systemd-analyze && command -v systemd-sysusers; } >/dev/null 2>&1 || need+=(systemd)
command -v man >/dev/null 2>&1 || need+=(man-db)

if [ ${#need[@]} -eq 0 ]; then
  echo "test peers present: mosquitto, mosquitto-clients, chromium, fonts-wqy-microhei, qemu-user-static, postgresql, coturn, iproute2, lintian, systemd, man-db"
  exit 0
fi

echo "installing: ${need[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root or sudo to install: ${need[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
# Debian starts a system mosquitto on 1883; the tests start their own on free
# ports, and `make run` wants 1883 for storeedge.
if command -v systemctl >/dev/null 2>&1; then $sudo systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi
$sudo service mosquitto stop >/dev/null 2>&1 || true
# Likewise Debian's cluster on 5432: the tests and `make hq` run their own.
if command -v systemctl >/dev/null 2>&1; then $sudo systemctl disable --now postgresql >/dev/null 2>&1 || true; fi
$sudo service postgresql stop >/dev/null 2>&1 || true
# And Debian's coturn on 3478: the tests run their own TURN servers.
if command -v systemctl >/dev/null 2>&1; then $sudo systemctl disable --now coturn >/dev/null 2>&1 || true; fi
$sudo service coturn stop >/dev/null 2>&1 || true
