package prune

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/tensor"
)

// blockCache evaluates a CIFAR ResNet on a data set when only the blocks
// from one index on differ from the model it was built with: the input of
// that block is computed once for every image and kept, and each
// evaluation runs only the rest of the network. With the same batch size
// it performs the same operations on the same values as
// train.Evaluator.Run, so the mean loss is the same to the last bit (the
// LossProbe tests check this). It saves about half the work of the
// single-channel experiment, whose removals each touch one block.
type blockCache struct {
	m         *zoo.CIFARResNet
	blocks    []nn.Module // layer1.0 … layer3.(n-1)
	d         *data.Dataset
	batch     int
	mean, std [3]float32
	c         *nn.Ctx

	from  int       // the block whose input is cached (-1: none yet)
	in    []float32 // that input for every image: [d.Len(), shape...]
	shape [3]int    // C, H, W of the cached input

	x      []float32
	idx    []int
	labels []int
	losses []float32
}

func newBlockCache(m *zoo.CIFARResNet, d *data.Dataset, batch int, mean, std [3]float32) *blockCache {
	bc := &blockCache{m: m, d: d, batch: batch, mean: mean, std: std, c: nn.NewCtx(), from: -1,
		x: make([]float32, batch*d.BytesPerImage()), idx: make([]int, batch), labels: make([]int, batch),
		losses: make([]float32, batch)}
	for _, s := range []*nn.Sequential{m.Layer1, m.Layer2, m.Layer3} {
		bc.blocks = append(bc.blocks, s.Layers...)
	}
	return bc
}

// blockIndex returns the index in bc.blocks of the block that holds the
// named layer ("layer2.1.conv1" → n+1 for n blocks per stage).
func (bc *blockCache) blockIndex(layer string) (int, error) {
	f := strings.Split(layer, ".")
	if len(f) < 3 || !strings.HasPrefix(f[0], "layer") {
		return 0, fmt.Errorf("%q is not inside a residual block", layer)
	}
	stage, err1 := strconv.Atoi(strings.TrimPrefix(f[0], "layer"))
	i, err2 := strconv.Atoi(f[1])
	n := len(bc.m.Layer1.Layers)
	if err1 != nil || err2 != nil || stage < 1 || stage > 3 || i < 0 || i >= n {
		return 0, fmt.Errorf("%q is not inside a residual block", layer)
	}
	return (stage-1)*n + i, nil
}

// input returns batch [i0, i0+b) of the cached input of block bc.from, or
// of the normalised images when nothing is cached.
func (bc *blockCache) input(i0, b int) *autograd.Var {
	if bc.from < 0 {
		for j := range b {
			bc.idx[j] = i0 + j
		}
		bc.d.Normalize(bc.x, bc.idx[:b], bc.mean, bc.std)
		h, w := bc.d.Size()
		return autograd.NewVar(tensor.FromSlice(bc.x[:b*bc.d.BytesPerImage()], b, data.Channels, h, w))
	}
	per := bc.shape[0] * bc.shape[1] * bc.shape[2]
	return autograd.NewVar(tensor.FromSlice(bc.in[i0*per:(i0+b)*per], b, bc.shape[0], bc.shape[1], bc.shape[2]))
}

// advance makes the cache hold the input of block `to`, computed by the
// model as it is now (which must not differ from the original before
// block `to`).
func (bc *blockCache) advance(to int) {
	if to == bc.from {
		return
	}
	if to < bc.from {
		bc.from, bc.in = -1, nil
	}
	nn.SetTraining(bc.m, false)
	n := bc.d.Len()
	var next []float32
	var shape [3]int
	for i0 := 0; i0 < n; i0 += bc.batch {
		b := min(bc.batch, n-i0)
		bc.c.Reset()
		x := bc.input(i0, b)
		start := bc.from
		if start < 0 {
			x = nn.Relu(bc.c, bc.m.BN1.Forward(bc.c, bc.m.Conv1.Forward(bc.c, x)))
			start = 0
		}
		for _, blk := range bc.blocks[start:to] {
			x = blk.Forward(bc.c, x)
		}
		s := x.Value.Shape
		if next == nil {
			shape = [3]int{s[1], s[2], s[3]}
			next = make([]float32, n*s[1]*s[2]*s[3])
		}
		per := shape[0] * shape[1] * shape[2]
		copy(next[i0*per:(i0+b)*per], x.Value.Data)
	}
	bc.from, bc.in, bc.shape = to, next, shape
}

// loss returns the mean cross-entropy over the data set of the model as it
// is now, running it from the cached block on.
func (bc *blockCache) loss() float64 {
	nn.SetTraining(bc.m, false)
	n := bc.d.Len()
	var sum float64
	for i0 := 0; i0 < n; i0 += bc.batch {
		b := min(bc.batch, n-i0)
		for j := range b {
			bc.labels[j] = int(bc.d.Labels[i0+j])
		}
		bc.c.Reset()
		x := bc.input(i0, b)
		start := bc.from
		if start < 0 {
			x = nn.Relu(bc.c, bc.m.BN1.Forward(bc.c, bc.m.Conv1.Forward(bc.c, x)))
			start = 0
		}
		for _, blk := range bc.blocks[start:] {
			x = blk.Forward(bc.c, x)
		}
		logits := bc.m.Linear.Forward(bc.c, nn.GlobalAvgPool(bc.c, x)).Value
		tensor.CrossEntropy(bc.losses[:b], logits, bc.labels[:b])
		for j := range b {
			sum += float64(bc.losses[j])
		}
	}
	return sum / float64(n)
}
