package zoo

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/bonsai-dl/bonsai/nn"
)

// Format is a kind of model file other than safetensors that Load reads, found by its
// extension. Package onnx registers ".onnx" when a program imports it (a blank import,
// as image/png registers PNG), so that programs that do not, do not link its decoder.
type Format struct {
	Name string // "ONNX"
	Ext  string // file extension with the dot, lower case: ".onnx"
	// Load reads the model in the file, its layers at their widths and its weights loaded,
	// in evaluation mode, with its metadata; Meta.Arch names an architecture Lookup knows.
	Load func(path string) (nn.Module, Meta, error)
}

var (
	formatMu sync.Mutex
	formats  = map[string]Format{}
)

// knownFormats are the extensions Load names in its error when no package registered them.
var knownFormats = map[string]string{".onnx": "ONNX (import _ \"github.com/bonsai-dl/bonsai/onnx\")"}

// RegisterFormat makes Load read files with f's extension by f.Load. Registering an
// extension twice panics.
func RegisterFormat(f Format) {
	formatMu.Lock()
	defer formatMu.Unlock()
	ext := strings.ToLower(f.Ext)
	if _, dup := formats[ext]; dup || f.Load == nil || !strings.HasPrefix(ext, ".") {
		panic(fmt.Sprintf("zoo: RegisterFormat %q: registered twice or incomplete", f.Ext))
	}
	formats[ext] = f
}

// formatOf returns the registered format of path's extension, or, when no package
// registered a format Load knows of, one whose Load says which import is missing.
func formatOf(path string) (Format, bool) {
	ext := strings.ToLower(filepath.Ext(path))
	formatMu.Lock()
	f, ok := formats[ext]
	formatMu.Unlock()
	if ok {
		return f, true
	}
	if what, known := knownFormats[ext]; known {
		return Format{Name: ext, Ext: ext, Load: func(path string) (nn.Module, Meta, error) {
			return nil, Meta{}, fmt.Errorf("%s: this program does not read %s", path, what)
		}}, true
	}
	return Format{}, false
}

// loadFormat loads path with f and checks arch (when not empty) against the file's.
func loadFormat(f Format, path, arch string) (nn.Module, Meta, error) {
	m, meta, err := f.Load(path)
	if err != nil {
		return nil, meta, err
	}
	if arch != "" {
		a, err1 := Lookup(arch)
		b, err2 := Lookup(meta.Arch)
		if err1 != nil || err2 != nil || a.Name != b.Name {
			return nil, meta, fmt.Errorf("%s: the %s file holds its own architecture (%s); -arch %q does not apply", path, f.Name, meta.Arch, arch)
		}
	}
	nn.SetTraining(m, false)
	return m, meta, nil
}
