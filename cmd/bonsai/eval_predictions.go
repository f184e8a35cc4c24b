package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/bonsai-dl/bonsai/classify"
	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/tensor"
	"github.com/bonsai-dl/bonsai/train"
)

// prediction is one line of "bonsai eval -predictions FILE".
type prediction struct {
	Index         int     `json:"index"`
	Label         int     `json:"label"`
	LabelName     string  `json:"label_name,omitempty"`
	Predicted     int     `json:"predicted"`
	PredictedName string  `json:"predicted_name,omitempty"`
	Probability   float64 `json:"probability"` // of the predicted class
}

// evalPredictions evaluates m on d with the compiled form (package classify, with the
// plan bonsai predict and bonsai serve use, so that their classes agree image for image),
// writes one JSON line per image to path (atomically) and returns the counts and the mean
// cross-entropy.
func evalPredictions(m nn.Module, meta zoo.Meta, mean, std [3]float32, d *data.Dataset, batch int, path string) (train.Result, error) {
	meta.Mean, meta.Std = mean[:], std[:]
	c, err := classify.New(m, meta, classify.Options{})
	if err != nil {
		return train.Result{}, err
	}
	h, w := d.Size()
	if in := c.InputShape(); in[1] != h || in[2] != w {
		return train.Result{}, fmt.Errorf("-predictions: the model takes %d×%d images, the data are %d×%d", in[1], in[2], h, w)
	}
	names := c.Names()
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return train.Result{}, err
	}
	defer os.Remove(tmp) // after the rename, a no-op
	bw := bufio.NewWriter(f)
	enc := json.NewEncoder(bw)
	var res train.Result
	per := d.BytesPerImage()
	x := make([]float32, batch*per)
	idx := make([]int, batch)
	for lo := 0; lo < d.Len(); lo += batch {
		n := min(batch, d.Len()-lo)
		for i := range n {
			idx[i] = lo + i
		}
		d.Normalize(x, idx[:n], mean, std)
		top, err := c.ClassifyTensor(tensor.FromSlice(x[:n*per], n, data.Channels, h, w), c.Classes())
		if err != nil {
			f.Close()
			return res, err
		}
		for i, p := range top {
			label := int(d.Labels[lo+i])
			pr := prediction{Index: lo + i, Label: label, Predicted: p[0].Class, Probability: p[0].Probability}
			if names != nil {
				pr.LabelName, pr.PredictedName = names[label], names[p[0].Class]
			}
			if err := enc.Encode(pr); err != nil {
				f.Close()
				return res, err
			}
			if p[0].Class == label {
				res.Correct++
			}
			for _, q := range p {
				if q.Class == label {
					res.Loss -= math.Log(q.Probability)
				}
			}
			res.Total++
		}
	}
	res.Loss /= float64(res.Total)
	if err := bw.Flush(); err != nil {
		f.Close()
		return res, fmt.Errorf("-predictions: %w", err)
	}
	if err := f.Close(); err != nil {
		return res, fmt.Errorf("-predictions: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return res, fmt.Errorf("-predictions: %w", err)
	}
	return res, nil
}
