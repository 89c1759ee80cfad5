#!/usr/bin/env bash
# Debian packages the test suite uses beyond what the machine ships. Idempotent: installs only what is missing.
# SoftHSM2 is the PKCS#11 token the HSM key provider is tested against; nats-server the event stream's broker.
set -euo pipefail
missing=()
command -v softhsm2-util >/dev/null 2>&1 || missing+=(softhsm2)
# NATS with JetStream, for the event-stream tests; the machine usually runs it already.
[ -x /usr/sbin/nats-server ] || command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
if [ "${#missing[@]}" -eq 0 ]; then
  echo "system packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root, or install them; the HSM test is skipped without them)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
