#!/bin/sh
# Install the Ollama stand-in the way Ollama's install script (install.sh,
# configure_systemd) installs Ollama on Linux: binary in /usr/local/bin, a
# system user `ollama` with home /usr/share/ollama, and ollama.service.
# usage: install.sh <path-to-stand-in>
set -eu
src=${1:?usage: install.sh <path-to-stand-in>}
BINDIR=/usr/local/bin

install -o0 -g0 -m755 -d "$BINDIR"
install -o0 -g0 -m755 "$src" "$BINDIR/ollama"

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
