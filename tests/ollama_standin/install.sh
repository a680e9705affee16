#!/bin/sh
# Install the Ollama stand-in the way Ollama's install script (install.sh,
# configure_systemd) installs Ollama on Linux: binary in /usr/local/bin, a
# system user `ollama` with home /usr/share/ollama, and ollama.service.
# usage: [OLLAMA_VERSION=0.12.3] install.sh <path-to-stand-in>
set -eu
src=${1:?usage: install.sh <path-to-stand-in>}
BINDIR=/usr/local/bin

install -o0 -g0 -m755 -d "$BINDIR"
# OLLAMA_VERSION picks the release, as with Ollama's installer: the stand-in takes it as its build version.
if [ -n "${OLLAMA_VERSION:-}" ]; then
    case ${OLLAMA_VERSION#v} in
        *[!0-9A-Za-z.-]* | "") echo "install.sh: OLLAMA_VERSION must look like 0.12.3, got $OLLAMA_VERSION" >&2; exit 1 ;;
    esac
    sed "s/version\.Version=[0-9A-Za-z.-]*\"/version.Version=${OLLAMA_VERSION#v}\"/" "$src" >"$BINDIR/ollama.new"
    grep -q "version.Version=${OLLAMA_VERSION#v}\"" "$BINDIR/ollama.new"
    chmod 755 "$BINDIR/ollama.new" && mv "$BINDIR/ollama.new" "$BINDIR/ollama"
else
    install -o0 -g0 -m755 "$src" "$BINDIR/ollama"
fi

if ! id ollama >/dev/null 2>&1; then
    useradd -r -s /bin/false -U -m -d /usr/share/ollama ollama
fi
for group in render video; do
    if getent group "$group" >/dev/null 2>&1; then
        usermod -a -G "$group" ollama
    fi
done

cat <<UNIT >/etc/systemd/system/ollama.service
[Unit]
Description=Ollama Service
After=network-online.target

[Service]
ExecStart=$BINDIR/ollama serve
User=ollama
Group=ollama
Restart=always
RestartSec=3
Environment="PATH=$PATH"

[Install]
WantedBy=default.target
UNIT

systemctl daemon-reload
systemctl enable ollama >/dev/null 2>&1
systemctl restart ollama
