package onnx

import (
	"errors"
	"fmt"
	"os"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/bonsai-dl/bonsai/onnx/internal/onnxpb"
)

// maxFile bounds the size of a model file Decode accepts (protobuf's own limit).
const maxFile = 2 << 30

// readModel reads and parses an ONNX file.
func readModel(path string) (*onnxpb.ModelProto, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() >= maxFile {
		return nil, fmt.Errorf("onnx: %s: %d bytes: files of 2 GiB or more (external data) are not supported", path, st.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := parseModel(b)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %v", path, err)
	}
	return m, nil
}

// parseModel parses the bytes of an ONNX file. A malformed file is an error that says
// where the encoding breaks (the field and byte offset of the top-level record that runs
// past the end of the file, as a truncated file has).
func parseModel(b []byte) (*onnxpb.ModelProto, error) {
	if len(b) == 0 {
		return nil, errors.New("empty file, not an ONNX model")
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		if where := locate(b); where != "" {
			return nil, fmt.Errorf("not a valid ONNX model: %s (%v)", where, err)
		}
		return nil, fmt.Errorf("not a valid ONNX model: %v", err)
	}
	if m.GetGraph() == nil {
		return nil, errors.New("not an ONNX model: it has no graph")
	}
	return m, nil
}

// modelFields names ModelProto's fields for error messages.
var modelFields = map[protowire.Number]string{1: "ir_version", 2: "producer_name", 3: "producer_version",
	4: "domain", 5: "model_version", 6: "doc_string", 7: "graph", 8: "opset_import", 14: "metadata_props",
	20: "training_info", 25: "functions"}

// graphFields names GraphProto's fields for error messages.
var graphFields = map[protowire.Number]string{1: "node", 2: "name", 5: "initializer", 10: "doc_string",
	11: "input", 12: "output", 13: "value_info", 14: "quantization_annotation", 15: "sparse_initializer"}

// locate walks the top-level records of a ModelProto (and of its graph) and describes
// the first one that is malformed or runs past the end, or returns "".
func locate(b []byte) string {
	var walk func(b []byte, base int, names map[protowire.Number]string, in string) string
	walk = func(b []byte, base int, names map[protowire.Number]string, in string) string {
		for off := 0; off < len(b); {
			num, typ, n := protowire.ConsumeTag(b[off:])
			if n < 0 {
				return fmt.Sprintf("%sbad field tag at byte %d", in, base+off)
			}
			name := names[num]
			if name == "" {
				name = fmt.Sprintf("field %d", num)
			}
			if typ == protowire.BytesType {
				l, m := protowire.ConsumeVarint(b[off+n:])
				if m < 0 {
					return fmt.Sprintf("%s%s at byte %d: bad length", in, name, base+off)
				}
				start := off + n + m
				if uint64(len(b)-start) < l {
					if num == 7 && names[7] == "graph" { // say which record of the graph is cut
						if s := walk(b[start:], base+start, graphFields, "graph: "); s != "" {
							return s
						}
					}
					return fmt.Sprintf("%s%s at byte %d is %d bytes long but only %d bytes follow: the file is truncated or corrupt",
						in, name, base+off, l, len(b)-start)
				}
				if num == 7 && names[7] == "graph" {
					if s := walk(b[start:start+int(l)], base+start, graphFields, "graph: "); s != "" {
						return s
					}
				}
				off = start + int(l)
				continue
			}
			v := protowire.ConsumeFieldValue(num, typ, b[off+n:])
			if v < 0 {
				return fmt.Sprintf("%s%s at byte %d: malformed", in, name, base+off)
			}
			off += n + v
		}
		return ""
	}
	return walk(b, 0, modelFields, "")
}
