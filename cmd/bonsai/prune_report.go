package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/prune"
)

// layerRows lines up the Conv2d and Linear layers of two summaries of the
// same model (before and after a plan) with the plan's scores; the
// "before" figures are the original model's where original has them.
func layerRows(before, after nn.Summary, plan *prune.Plan, original map[string][2]int64) []layerRow {
	type score struct{ total, removed float64 }
	scores := map[string]score{}
	for _, gp := range plan.Groups {
		if gp.Scores == nil {
			continue
		}
		var total float64
		for _, v := range gp.Scores {
			total += v
		}
		for _, d := range gp.Group.Deps {
			if d.Side == prune.Out {
				scores[d.Layer] = score{total, gp.RemovedScore}
			}
		}
	}
	after2 := map[string]nn.LayerStat{}
	for _, l := range after.Layers {
		after2[l.Name] = l
	}
	var rows []layerRow
	for _, l := range before.Layers {
		if l.MACs == 0 {
			continue
		}
		a := after2[l.Name]
		r := layerRow{Name: l.Name, Before: l.OutShape[1], After: a.OutShape[1], MACsBefore: l.MACs, MACsAfter: a.MACs}
		if o, ok := original[l.Name]; ok {
			r.Before, r.MACsBefore = int(o[0]), o[1]
		}
		if s, ok := scores[l.Name]; ok {
			r.Score, r.RemovedScore, r.HasScore = s.total, s.removed, true
		}
		rows = append(rows, r)
	}
	return rows
}

// summary gathers the figures of the finished run.
func (p *pruner) summary() pruneSummary {
	st := p.st
	last := st.StepsDone[len(st.StepsDone)-1]
	s := pruneSummary{Arch: p.o.Arch, Criterion: p.o.Criterion, Ranking: p.o.Ranking, Steps: p.o.Steps,
		MACsBefore: st.Before.MACs, MACsAfter: last.MACs, ParamsBefore: st.Before.Params, ParamsAfter: last.Params,
		AccBefore: st.Before.Acc, AccPruned: last.AccPruned, AccFinetuned: last.AccPruned, ImagesPerSecond: st.Throughput, Out: p.dir}
	if n := len(last.Finetune); n > 0 {
		s.AccFinetuned = last.Finetune[n-1] // the last epoch, never the best one
	}
	return s
}

// writeReport writes report.md, metrics.jsonl and the PNG plots.
func (p *pruner) writeReport(sum pruneSummary) error {
	st := p.st
	var names []string
	var chBefore, chAfter, score []float64
	for _, r := range st.Layers {
		names = append(names, r.Name)
		chBefore, chAfter = append(chBefore, float64(r.Before)), append(chAfter, float64(r.After))
		score = append(score, r.Score)
	}
	crit := p.o.Criterion
	if err := barChart(filepath.Join(p.dir, "channels.png"), "Channels kept per layer", "output channels", names,
		[]namedSeries{{"before", chBefore}, {"after", chAfter}}); err != nil {
		return err
	}
	if err := barChart(filepath.Join(p.dir, "sensitivity.png"), "Summed "+crit+" of each layer's output channels (last step)", crit, names,
		[]namedSeries{{crit, score}}); err != nil {
		return err
	}
	var acc []float64
	for _, s := range st.StepsDone {
		acc = append(acc, s.Finetune...)
	}
	plots := "![channels kept per layer](channels.png)\n\n![" + crit + " per layer](sensitivity.png)\n"
	if len(acc) > 0 {
		if err := lineChart(filepath.Join(p.dir, "accuracy.png"), "Test accuracy per fine-tuning epoch", "epoch", "test accuracy",
			[]namedSeries{{"fine-tuning", acc}}); err != nil {
			return err
		}
		plots += "\n![test accuracy per fine-tuning epoch](accuracy.png)\n"
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# Bonsai prune report: %s\n\n", sum.Arch)
	src := p.o.Weights
	if p.o.Init != "" {
		src = "random weights (seed " + fmt.Sprint(p.o.Seed) + ")"
	}
	target := fmt.Sprintf("−%.0f %% of the MACs", 100*p.o.FLOPs)
	if p.o.Ratio > 0 {
		target = fmt.Sprintf("−%.0f %% of the channels", 100*p.o.Ratio)
	}
	fmt.Fprintf(&b, "Model %s (%s), data %s. Criterion `%s` (scope %s), ranking `%s`, target %s in %d step(s), "+
		"%d calibration images%s, %d fine-tuning epochs (lr %g, %s%s), seed %d%s.\n\n",
		sum.Arch, src, p.o.Data, crit, p.o.Scope, p.o.Ranking, target, p.o.Steps, p.o.Calib, calibNote(p.o), p.o.FinetuneEpochs, p.o.LR, p.o.Schedule,
		distillNote(p.o), p.o.Seed, testRangeNote(p.o))
	fmt.Fprintf(&b, "## Totals\n\n| | before | after |\n|---|---:|---:|\n")
	fmt.Fprintf(&b, "| parameters | %s | %s |\n", group(sum.ParamsBefore), group(sum.ParamsAfter))
	fmt.Fprintf(&b, "| MACs per image | %s | %s (−%.1f %%) |\n", group(sum.MACsBefore), group(sum.MACsAfter), 100*(1-float64(sum.MACsAfter)/float64(sum.MACsBefore)))
	fmt.Fprintf(&b, "| FLOPs per image (2 × MACs) | %s | %s |\n", group(2*sum.MACsBefore), group(2*sum.MACsAfter))
	fmt.Fprintf(&b, "| throughput, batch %d, %d threads, timed alternately at the end (images/s) | %.0f | %.0f |\n\n", p.benchBatch(), runtimeThreads(), sum.ImagesPerSecond[0], sum.ImagesPerSecond[1])
	fmt.Fprintf(&b, "Test accuracy: %s before; %s right after pruning; %s after the last fine-tuning epoch.\n\n",
		pct(sum.AccBefore), pct(sum.AccPruned), pct(sum.AccFinetuned))
	if len(st.StepsDone) > 1 {
		fmt.Fprintf(&b, "| step | MACs removed (of the original) | MACs | accuracy after pruning | after fine-tuning |\n|---:|---:|---:|---:|---:|\n")
		for _, s := range st.StepsDone {
			ft := "n/a"
			if n := len(s.Finetune); n > 0 {
				ft = pct(s.Finetune[n-1])
			}
			fmt.Fprintf(&b, "| %d | %.1f %% | %s | %s | %s |\n", s.Step, 100*(1-float64(s.MACs)/float64(sum.MACsBefore)), group(s.MACs), pct(s.AccPruned), ft)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "## Layers\n\nChannels and MACs of the original model and the pruned one; the scores are those of the last pruning step.\n\n| layer | output channels before → after | MACs before → after | %s of its channels: all / removed |\n|---|---:|---:|---:|\n", crit)
	for _, r := range st.Layers {
		sc := "—"
		if r.HasScore {
			sc = fmt.Sprintf("%.4g / %.4g", r.Score, r.RemovedScore)
		}
		fmt.Fprintf(&b, "| %s | %d → %d | %s → %s | %s |\n", r.Name, r.Before, r.After, group(r.MACsBefore), group(r.MACsAfter), sc)
	}
	fmt.Fprintf(&b, "\nMACs count Conv2d and Linear layers; BatchNorm, ReLU, pooling and residual adds are excluded.\n\n## Plots\n\n%s", plots)
	if err := os.WriteFile(filepath.Join(p.dir, "report.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	return p.writeMetrics()
}

// writeMetrics writes metrics.jsonl: the figures before pruning, then one
// line per pruning step and per fine-tuning epoch.
func (p *pruner) writeMetrics() error {
	var b strings.Builder
	fmt.Fprintf(&b, `{"phase":"before","macs":%d,"params":%d,"test_acc":%g}`+"\n", p.st.Before.MACs, p.st.Before.Params, p.st.Before.Acc)
	for _, s := range p.st.StepsDone {
		fmt.Fprintf(&b, `{"phase":"pruned","step":%d,"target":%g,"macs":%d,"params":%d,"test_acc":%g,"test_loss":%g}`+"\n",
			s.Step, s.Target, s.MACs, s.Params, s.AccPruned, s.LossPruned)
		for e, a := range s.Finetune {
			fmt.Fprintf(&b, `{"phase":"finetune","step":%d,"epoch":%d,"test_acc":%g}`+"\n", s.Step, e+1, a)
		}
	}
	return os.WriteFile(filepath.Join(p.dir, "metrics.jsonl"), []byte(b.String()), 0o644)
}

func runtimeThreads() int { return runtime.GOMAXPROCS(0) }

// distillNote describes the fine-tuning's distillation, if any, for the report.
func distillNote(o pruneOpts) string {
	if !o.Distill {
		return ""
	}
	return fmt.Sprintf("; distilled from the unpruned model, T %g, alpha %g", o.DistillT, o.DistillAlpha)
}
