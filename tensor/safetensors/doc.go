// Package safetensors reads and writes the safetensors tensor file format
// (https://github.com/huggingface/safetensors).
//
// # Format
//
// A safetensors file has three parts:
//
//  1. an 8-byte little-endian unsigned integer N, the header length;
//  2. N bytes of UTF-8 JSON, the header;
//  3. the data buffer: everything after the header, to the end of the file.
//
// The header is a JSON object. Each member other than "__metadata__" describes
// one tensor, keyed by its name:
//
//	{"conv1.weight": {"dtype": "F32", "shape": [8, 3, 3, 3], "data_offsets": [0, 864]}, ...}
//
// dtype names the element type (see [DType]), shape lists the dimensions
// (an empty list is a 0-d tensor with one element), and data_offsets is the
// half-open byte range [begin, end) of the tensor's elements within the data
// buffer (not within the file). Elements are stored little-endian in row-major
// order. The optional "__metadata__" member is an object mapping strings to
// strings, for free-form information such as {"format": "pt"}.
//
// # Reading
//
// [Decode] and [ReadFile] are strict. They reject, with an error naming the
// problem and, where there is one, the tensor: a file too short to hold the
// header length; a header length over 100 MiB or past the end of the file; a
// header that is not valid UTF-8, not valid JSON, or not a JSON object; a
// duplicate key at any level; a "__metadata__" that is not an object of
// strings; an empty tensor name; a tensor entry that is not an object, lacks
// one of dtype, shape and data_offsets, or has any other field; a dtype this
// package does not know; a shape that is not a list of non-negative integers,
// or whose element count or byte length overflows int; data_offsets that are
// not two non-negative integers with begin <= end <= the buffer length; a byte
// range whose length differs from the element count times the element size;
// and tensors that overlap or leave bytes of the data buffer uncovered (the
// specification requires the tensors to tile the buffer exactly). No input
// makes them panic.
//
// The dtypes known are F64, F32, F16, BF16, I64, I32, I16, I8, U8 and BOOL.
// Files using other dtypes of the specification (for example U32 or F8_E4M3)
// are rejected.
//
// # Writing
//
// [File.Encode] and [File.WriteFile] write deterministically: the header is
// compact JSON with every object's keys in sorted order, the tensors' data are
// laid out in sorted-name order, and nothing depends on time or map iteration,
// so files with equal contents encode to identical bytes. As the reference
// implementation does, the header is padded with spaces so that the data
// buffer starts at a multiple of 8 bytes. A nil [File.Metadata] writes no
// "__metadata__"; a non-nil one, even if empty, is written, so that decoding
// gives back exactly what was encoded. [File.WriteFile] replaces its target
// atomically.
package safetensors
