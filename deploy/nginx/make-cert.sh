#!/bin/sh
# A self-signed certificate for deploy/nginx/certs (replace it with your CA's for production).
# Usage: deploy/nginx/make-cert.sh [host name]   (default localhost)
set -eu
host="${1:-localhost}"
dir="$(dirname "$0")/certs"
mkdir -p "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$host" -addext "subjectAltName=DNS:$host" \
    -keyout "$dir/facecast.key" -out "$dir/facecast.crt"
chmod 600 "$dir/facecast.key"
echo "wrote $dir/facecast.crt and facecast.key for $host"
