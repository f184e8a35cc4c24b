package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/onnx"
)

// runExport writes a model file as ONNX.
func runExport(args []string, out, errOut io.Writer) error {
	fs := newFlags("export", errOut)
	arch := fs.String("arch", "", "architecture, when the file does not name it (one of: "+strings.Join(zoo.Names(), ", ")+")")
	weights := fs.String("weights", "", "model file to export: safetensors or ONNX (required)")
	output := fs.String("o", "", "ONNX file to write (required)")
	keepBN := fs.Bool("keep-bn", false, "write BatchNormalization nodes instead of folding them into the convolutions")
	mean := fs.String("mean", "", "input mean per channel to record, e.g. 0.4914,0.4822,0.4465 (default: the file's)")
	std := fs.String("std", "", "input std per channel to record (default: the file's)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *weights == "":
		return usagef("-weights FILE is required")
	case *output == "":
		return usagef("-o FILE.onnx is required")
	case !strings.HasSuffix(strings.ToLower(*output), ".onnx"):
		return usagef("-o %s: the file name must end in .onnx", *output)
	}
	if err := checkArch(*arch); err != nil {
		return err
	}
	m, meta, err := zoo.Load(*weights, *arch)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		flag string
		dst  *[]float32
	}{{*mean, &meta.Mean}, {*std, &meta.Std}} {
		if f.flag != "" {
			v, err := zoo.ParseFloats(f.flag)
			if err != nil || len(v) != 3 {
				return usagef("-mean/-std %q: want three numbers, e.g. 0.5,0.5,0.5", f.flag)
			}
			*f.dst = v
		}
	}
	a, err := zoo.Lookup(meta.Arch)
	if err != nil {
		return err
	}
	if meta.Classes == nil {
		meta.Classes = a.ClassNames()
	}
	if err := onnx.Export(*output, m, a.InputShape, meta, onnx.ExportOptions{KeepBatchNorm: *keepBN}); err != nil {
		return err
	}
	bn := "folded into the convolutions"
	if *keepBN {
		bn = "kept"
	}
	_, err = fmt.Fprintf(out, "wrote %s: %s, input %q [N %s], output %q, opset %d, BatchNorm %s\n",
		*output, a.Name, onnx.InputName, shapeString(a.InputShape), onnx.OutputName, onnx.ExportOpset, bn)
	return err
}
