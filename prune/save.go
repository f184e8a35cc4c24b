package prune

import (
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
)

// Save writes m's parameters and buffers to path as a safetensors file
// (atomically: a complete new file or the old one), with meta's keys and
// the widths of every layer under zoo.MetaWidths, so that zoo.Load (and so
// `bonsai eval`, `bonsai info`, `bonsai train -weights`) rebuilds the pruned
// model from the file alone. meta.Arch should name the architecture the
// model was pruned from.
func Save(path string, m nn.Module, meta zoo.Meta) error {
	md := meta.Map()
	md[zoo.MetaWidths] = zoo.Widths(m)
	return nn.SaveState(m, md).WriteFile(path)
}
