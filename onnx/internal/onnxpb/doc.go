// Package onnxpb is the Go form of ONNX's onnx.proto (ONNX 1.12, IR version 8), generated
// by protoc 3.21 and protoc-gen-go; onnx/_gen/gen.sh regenerates it and .ci/run checks
// that onnx.pb.go is current. Do not edit onnx.pb.go.
package onnxpb

//go:generate ../../_gen/gen.sh
