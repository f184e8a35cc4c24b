package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/bonsai-dl/bonsai/prune"
)

// writePlots draws the PNG plots of the finished run of d and returns the
// report's Markdown for them: channels.png and sensitivity.png per layer;
// with test accuracies, tradeoff.png (accuracy against MACs across the
// steps) and, with fine-tuning, accuracy.png (per epoch, the steps marked).
func writePlots(d *prune.Driver) (string, error) {
	st, o, dir := d.State, pruneOpts(d.Config), d.Dir
	var names []string
	var chBefore, chAfter, score []float64
	notes := map[int]string{}
	for i, r := range st.Layers {
		names = append(names, r.Name)
		chBefore, chAfter = append(chBefore, float64(r.Before)), append(chAfter, float64(r.After))
		score = append(score, r.Score)
		if !r.HasScore {
			notes[i] = noScoreNote(r.Why)
		}
	}
	crit := o.Criterion
	if err := barChart(filepath.Join(dir, "channels.png"), "Output channels per layer, before and after pruning", "output channels", "",
		names, []namedSeries{{"before", chBefore}, {"after", chAfter}}, nil); err != nil {
		return "", err
	}
	xlabel := ""
	if len(notes) > 0 {
		xlabel = "no bar: the output channels are not scored (a residual stream is kept unless -prune-residual)"
	}
	if err := barChart(filepath.Join(dir, "sensitivity.png"), "Summed "+crit+" of each layer's output channels (last step)", crit, xlabel,
		names, []namedSeries{{crit, score}}, notes); err != nil {
		return "", err
	}
	md := "![output channels per layer](channels.png)\n\n![" + crit + " per layer](sensitivity.png)\n"
	if st.Before.Acc < 0 || len(st.StepsDone) == 0 {
		return md, nil
	}
	var steps []stepCurve
	epochs := 0
	for _, s := range st.StepsDone {
		steps = append(steps, stepCurve{macs: float64(s.MACs), pruned: s.AccPruned, finetune: s.Finetune})
		epochs += len(s.Finetune)
	}
	if err := tradeoffChart(filepath.Join(dir, "tradeoff.png"), st.Before.MACs, st.Before.Acc, steps); err != nil {
		return "", err
	}
	md += "\n![test accuracy against MACs across the steps](tradeoff.png)\n"
	if epochs > 0 {
		if err := accuracyChart(filepath.Join(dir, "accuracy.png"), st.Before.Acc, steps); err != nil {
			return "", err
		}
		md += "\n![test accuracy per fine-tuning epoch](accuracy.png)\n"
	}
	return md, nil
}

// noScoreNote is the few words sensitivity.png writes where a layer has no
// bar, from the plan's reason (prune.LayerRow.Why).
func noScoreNote(why string) string {
	switch {
	case why == "":
		return "not scored"
	case strings.Contains(why, "model output"):
		return "model output"
	}
	return strings.TrimPrefix(why, "not prunable: ")
}

// writeReport writes report.md, metrics.jsonl and the PNG plots of the
// finished run of d.
func writeReport(d *prune.Driver, sum pruneSummary) error {
	st, o, dir := d.State, pruneOpts(d.Config), d.Dir
	plots, err := writePlots(d)
	if err != nil {
		return err
	}
	crit := o.Criterion

	var b strings.Builder
	fmt.Fprintf(&b, "# Bonsai prune report: %s\n\n", sum.Arch)
	src := o.Weights
	if o.Init != "" {
		src = "random weights (seed " + fmt.Sprint(o.Seed) + ")"
	}
	target := fmt.Sprintf("−%.0f %% of the MACs", 100*o.FLOPs)
	switch {
	case o.Ratio > 0:
		target = fmt.Sprintf("−%.0f %% of the channels", 100*o.Ratio)
	case o.Latency > 0:
		target = fmt.Sprintf("−%.0f %% of the latency at batch %d (compiled form, measured on this CPU)", 100*o.Latency, max(o.LatencyBatch, 1))
	}
	fmt.Fprintf(&b, "Model %s (%s), data %s. Criterion `%s` (scope %s), ranking `%s`, target %s in %d step(s), "+
		"%d calibration images%s, %d fine-tuning epochs (lr %g, %s%s), seed %d%s.\n\n",
		sum.Arch, src, o.Data, crit, o.Scope, o.Ranking, target, o.Steps, o.Calib, d.Config.CalibNote(), o.FinetuneEpochs, o.LR, o.Schedule,
		distillNote(o), o.Seed, testRangeNote(o))
	fmt.Fprintf(&b, "## Totals\n\n| | before | after |\n|---|---:|---:|\n")
	fmt.Fprintf(&b, "| parameters | %s | %s |\n", group(sum.ParamsBefore), group(sum.ParamsAfter))
	fmt.Fprintf(&b, "| MACs per image | %s | %s (−%.1f %%) |\n", group(sum.MACsBefore), group(sum.MACsAfter), 100*(1-float64(sum.MACsAfter)/float64(sum.MACsBefore)))
	fmt.Fprintf(&b, "| FLOPs per image (2 × MACs) | %s | %s |\n", group(2*sum.MACsBefore), group(2*sum.MACsAfter))
	fmt.Fprintf(&b, "| throughput, batch %d, %d threads, timed alternately at the end (images/s) | %.0f | %.0f |\n", d.BenchBatch(), runtimeThreads(), sum.ImagesPerSecond[0], sum.ImagesPerSecond[1])
	if st.Latency[0] > 0 {
		fmt.Fprintf(&b, "| latency, batch %d, %d threads, timed alternately at the end (ms) | %.3f | %.3f (−%.1f %%) |\n",
			max(o.LatencyBatch, 1), runtimeThreads(), st.Latency[0], st.Latency[1], 100*(1-st.Latency[1]/st.Latency[0]))
	}
	b.WriteString("\n")
	if st.BaseLatency > 0 {
		note := ""
		if t, err := prune.ReadLatencyTable(dir); err == nil {
			note = fmt.Sprintf(" The latency table (%s, %d layers) was measured on %s with %d threads.", prune.LatencyFile, len(t.Layers), t.CPU, t.Threads)
		}
		fmt.Fprintf(&b, "Latency at batch %d: %.3f ms measured when the run started. Each step predicts the pruned model's latency from the table of per-layer times "+
			"(the first plan's prediction is the table's alone), measures the planned model against the original, call by call in turns, corrects the prediction by the error "+
			"and plans again (up to 4 plans); measured latencies are the original's %.3f ms times the measured ratio.%s\n\n", max(o.LatencyBatch, 1), st.BaseLatency, st.BaseLatency, note)
	}
	fmt.Fprintf(&b, "Test accuracy: %s before; %s right after pruning; %s after the last fine-tuning epoch.\n\n",
		pct(sum.AccBefore), pct(sum.AccPruned), pct(sum.AccFinetuned))
	if len(st.StepsDone) > 1 || st.BaseLatency > 0 {
		lat := st.BaseLatency > 0
		fmt.Fprintf(&b, "| step | MACs removed (of the original) | MACs | accuracy after pruning | after fine-tuning |")
		if lat {
			fmt.Fprintf(&b, " latency target (ms) | predicted (ms) | measured (ms) | measured, of the original | plans: predicted → measured (ms) |")
		}
		fmt.Fprintf(&b, "\n|---:|---:|---:|---:|---:|")
		if lat {
			fmt.Fprintf(&b, "---:|---:|---:|---:|---:|")
		}
		b.WriteString("\n")
		for _, s := range st.StepsDone {
			ft := "n/a"
			if n := len(s.Finetune); n > 0 {
				ft = pct(s.Finetune[n-1])
			}
			fmt.Fprintf(&b, "| %d | %.1f %% | %s | %s | %s |", s.Step, 100*(1-float64(s.MACs)/float64(sum.MACsBefore)), group(s.MACs), pct(s.AccPruned), ft)
			if lat {
				tgt := "—"
				if o.Latency > 0 {
					tgt = fmt.Sprintf("%.3f", (1-s.Target)*st.BaseLatency)
				}
				var plans []string
				for _, pm := range s.LatencyPlans {
					plans = append(plans, fmt.Sprintf("%.3f → %.3f", pm[0], pm[1]))
				}
				if len(plans) == 0 {
					plans = []string{fmt.Sprint(s.LatencyRounds)}
				}
				fmt.Fprintf(&b, " %s | %.3f | %.3f | %.1f %% | %s |", tgt, s.LatencyPredicted, s.LatencyMeasured, 100*s.LatencyMeasured/st.BaseLatency, strings.Join(plans, ", "))
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "## Layers\n\nChannels and MACs of the original model and the pruned one; the scores are those of the last pruning step.\n\n| layer | output channels before → after | MACs before → after | %s of its channels: all / removed |\n|---|---:|---:|---:|\n", crit)
	for _, r := range st.Layers {
		sc := "—"
		if r.Why != "" {
			sc = "— (" + r.Why + ")"
		}
		if r.HasScore {
			sc = fmt.Sprintf("%.4g / %.4g", r.Score, r.RemovedScore)
		}
		fmt.Fprintf(&b, "| %s | %d → %d | %s → %s | %s |\n", r.Name, r.Before, r.After, group(r.MACsBefore), group(r.MACsAfter), sc)
	}
	fmt.Fprintf(&b, "\nMACs count Conv2d and Linear layers; BatchNorm, ReLU, pooling and residual adds are excluded.\n\n## Plots\n\n%s", plots)
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	return writeMetrics(dir, st)
}

// writeMetrics writes metrics.jsonl: the figures before pruning, then one
// line per pruning step and per fine-tuning epoch.
func writeMetrics(dir string, st *pruneState) error {
	var b strings.Builder
	fmt.Fprintf(&b, `{"phase":"before","macs":%d,"params":%d,"test_acc":%g}`+"\n", st.Before.MACs, st.Before.Params, st.Before.Acc)
	for _, s := range st.StepsDone {
		fmt.Fprintf(&b, `{"phase":"pruned","step":%d,"target":%g,"macs":%d,"params":%d,"test_acc":%g,"test_loss":%g}`+"\n",
			s.Step, s.Target, s.MACs, s.Params, s.AccPruned, s.LossPruned)
		for e, a := range s.Finetune {
			fmt.Fprintf(&b, `{"phase":"finetune","step":%d,"epoch":%d,"test_acc":%g}`+"\n", s.Step, e+1, a)
		}
	}
	return os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(b.String()), 0o644)
}

func runtimeThreads() int { return runtime.GOMAXPROCS(0) }

// distillNote describes the fine-tuning's distillation, if any, for the report.
func distillNote(o pruneOpts) string {
	if !o.Distill {
		return ""
	}
	return fmt.Sprintf("; distilled from the unpruned model, T %g, alpha %g", o.DistillT, o.DistillAlpha)
}
