package safetensors

import (
	"maps"
	"slices"
)

// File is the contents of a safetensors file: named tensors and optional
// string metadata.
type File struct {
	// Metadata is the header's "__metadata__" object, or nil if it has
	// none. Encoding writes a non-nil Metadata even when it is empty.
	Metadata map[string]string
	// Tensors maps each tensor's name to the tensor. Names must be
	// non-empty valid UTF-8 and must not be "__metadata__".
	Tensors map[string]*Tensor
}

// New returns an empty File with no metadata and a non-nil Tensors map.
func New() *File {
	return &File{Tensors: make(map[string]*Tensor)}
}

// Names returns the tensor names of f in sorted order.
func (f *File) Names() []string {
	return slices.Sorted(maps.Keys(f.Tensors))
}
