package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/bonsai-dl/bonsai/infer"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
)

// infoLayer is one row of "bonsai info -json".
type infoLayer struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	OutShape []int  `json:"output_shape"`
	Params   int64  `json:"params"`
	MACs     int64  `json:"macs"`
}

// infoReport is the output of "bonsai info -json".
type infoReport struct {
	Arch       string      `json:"arch"`
	InputShape []int       `json:"input_shape"`
	Layers     []infoLayer `json:"layers"`
	Params     int64       `json:"params"`
	MACs       int64       `json:"macs"`
	FLOPs      int64       `json:"flops"`
	Note       string      `json:"note"`
}

const macNote = "MACs (multiply-accumulates) count Conv2d and Linear layers for one image; BatchNorm, ReLU, pooling and residual adds are excluded. FLOPs = 2 × MACs."

func runInfo(args []string, out, errOut io.Writer) error {
	fs := newFlags("info", errOut)
	arch := fs.String("arch", "", "architecture (one of: "+strings.Join(zoo.Names(), ", ")+")")
	weights := fs.String("weights", "", "safetensors model file (optional; its metadata may name the architecture)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	tree := fs.Bool("tree", false, "print the layer tree (as PyTorch's print(model)) instead of the table")
	plan := fs.Int("plan", 0, "print the compiled inference plan for batches of this size instead (each step's fused layers and algorithm)")
	if err := parse(fs, args); err != nil {
		return err
	}
	m, a, err := modelFromFlags(*arch, *weights)
	if err != nil {
		return err
	}
	if *tree {
		_, err := fmt.Fprintln(out, nn.Format(m))
		return err
	}
	if *plan < 0 {
		return usagef("-plan must be a batch size ≥ 1 (0: the layer table)")
	}
	if *plan > 0 {
		return printPlan(out, m, a, *plan, *asJSON)
	}
	s := nn.Summarize(m, a.InputShape...)
	rep := infoReport{Arch: a.Name, InputShape: a.InputShape, Params: s.Params, MACs: s.MACs, FLOPs: 2 * s.MACs, Note: macNote}
	for _, l := range s.Layers {
		typ, _, _ := strings.Cut(l.Layer.String(), "(")
		rep.Layers = append(rep.Layers, infoLayer{Name: l.Name, Type: typ, OutShape: l.OutShape[1:], Params: l.Params, MACs: l.MACs})
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(out, "%s, input %s\n\n", rep.Arch, shapeString(rep.InputShape))
	wName, wType := len("layer"), len("type")
	for _, l := range rep.Layers {
		wName, wType = max(wName, len(l.Name)), max(wType, len(l.Type))
	}
	fmt.Fprintf(out, "%-*s  %-*s  %12s  %12s  %14s\n", wName, "layer", wType, "type", "output", "params", "MACs")
	for _, l := range rep.Layers {
		fmt.Fprintf(out, "%-*s  %-*s  %12s  %12s  %14s\n", wName, l.Name, wType, l.Type, shapeString(l.OutShape), group(l.Params), group(l.MACs))
	}
	fmt.Fprintf(out, "\nparams %s (%.2f M)\nMACs   %s (%.2f M)\nFLOPs  %s (%.2f M)\n%s\n",
		group(rep.Params), float64(rep.Params)/1e6, group(rep.MACs), float64(rep.MACs)/1e6,
		group(rep.FLOPs), float64(rep.FLOPs)/1e6, macNote)
	return nil
}

func shapeString(s []int) string {
	p := make([]string, len(s))
	for i, d := range s {
		p[i] = fmt.Sprint(d)
	}
	return strings.Join(p, "×")
}

// group writes n with thousands separators: 1,234,567.
func group(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + group(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// printPlan prints the compiled inference plan of m for batches of the given size.
func printPlan(out io.Writer, m nn.Module, a zoo.Arch, batch int, asJSON bool) error {
	cm, err := infer.Compile(m, a.InputShape, infer.Options{Batch: batch})
	if err != nil {
		return err
	}
	layers := cm.Layers()
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Arch  string        `json:"arch"`
			Batch int           `json:"batch"`
			Steps []infer.Layer `json:"steps"`
		}{a.Name, batch, layers})
	}
	fmt.Fprintf(out, "%s, compiled for batches of %d: %d steps\n\n", a.Name, batch, len(layers))
	w := len("step")
	for _, l := range layers {
		w = max(w, len(l.Name))
	}
	fmt.Fprintf(out, "%-*s  %-14s  %-9s  %12s  %12s  %14s\n", w, "step", "op", "algorithm", "input", "output", "MACs")
	for _, l := range layers {
		fmt.Fprintf(out, "%-*s  %-14s  %-9s  %12s  %12s  %14s\n", w, l.Name, l.Op, l.Algo, shapeString(l.In), shapeString(l.Out), group(l.MACs))
	}
	return nil
}
