package main

// Model files may be ONNX (.onnx): package onnx registers its reader with zoo.Load.
import _ "github.com/bonsai-dl/bonsai/onnx"
