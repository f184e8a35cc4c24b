package onnx

import (
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
)

func init() {
	zoo.RegisterFormat(zoo.Format{Name: "ONNX", Ext: ".onnx", Load: func(path string) (nn.Module, zoo.Meta, error) {
		g, meta, err := Import(path)
		if err != nil {
			return nil, meta, err
		}
		return g, meta, nil
	}})
}
