#!/bin/sh
# Regenerates onnx/internal/onnxpb/onnx.pb.go from ONNX's onnx.proto, with all three tools
# pinned: onnx.proto of Debian's libonnx-dev 1.12 (/usr/include/onnx/onnx.proto), protoc of
# Debian's protobuf-compiler 3.21, and protoc-gen-go at the version of google.golang.org/protobuf
# that go.mod requires (from the Go module proxy).
#
# usage: onnx/_gen/gen.sh [OUTDIR]   (default onnx/internal/onnxpb; run from anywhere)
# .ci/run generates into a temporary directory and compares.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$repo/onnx/internal/onnxpb}
proto=/usr/include/onnx/onnx.proto
want_proto=1.12.0
want_protoc="libprotoc 3.21.12"

if [ ! -f "$proto" ]; then
	echo "gen.sh: $proto missing: apt-get install libonnx-dev (ONNX $want_proto)" >&2; exit 1
fi
have=$(dpkg-query -W -f '${Version}' libonnx-dev 2>/dev/null || echo unknown)
case "$have" in
$want_proto*) ;;
*) echo "gen.sh: libonnx-dev $have, want $want_proto" >&2; exit 1 ;;
esac
if [ "$(protoc --version 2>/dev/null)" != "$want_protoc" ]; then
	echo "gen.sh: protoc says '$(protoc --version 2>/dev/null)', want '$want_protoc' (apt-get install protobuf-compiler)" >&2; exit 1
fi
pbver=$(cd "$repo" && go list -m -f '{{.Version}}' google.golang.org/protobuf)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
GOBIN=$tmp GOFLAGS=-mod=mod go install "google.golang.org/protobuf/cmd/protoc-gen-go@$pbver"
cp "$proto" "$tmp/onnx.proto"
mkdir -p "$out"
protoc --plugin=protoc-gen-go="$tmp/protoc-gen-go" -I"$tmp" \
	--go_out="$out" --go_opt=paths=source_relative \
	--go_opt=Monnx.proto=github.com/bonsai-dl/bonsai/onnx/internal/onnxpb \
	"$tmp/onnx.proto"
