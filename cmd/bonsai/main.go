// Command bonsai trains, evaluates, inspects and prunes CNNs in pure Go.
//
// Usage:
//
//	bonsai info [-arch NAME] [-weights FILE] [-json | -tree]
//	bonsai eval [-arch NAME] -weights FILE -data DIR [-batch N] [-mean M -std S] [-json] [-predictions FILE]
//	bonsai predict -weights FILE [-top 5] [-json] IMAGE...
//	bonsai serve -weights FILE [-addr 127.0.0.1:8080] [-max-batch 32 -max-wait 2ms -queue N …]
//	bonsai prune [-arch NAME] -weights FILE -data DIR -criterion sensitivity -flops 0.5 -out DIR [-steps K -finetune-epochs N …]
//	bonsai prune -resume -out DIR
//	bonsai bench [-arch NAME] [-weights FILE] [-batch N] [-json]
//	bonsai train [-arch NAME | -weights FILE] -data DIR -out DIR [-epochs N -batch N -lr LR -schedule S -seed N …]
//	bonsai train -resume -out DIR [-max-steps N -data DIR]
//	bonsai export -weights FILE -o MODEL.onnx [-keep-bn] [-mean M -std S]
//	bonsai demo [-seed N -flops F]
//	bonsai prune-rho -weights FILE -data DIR -out DIR [-channels K -calib 2048,4096 -fisher empirical,exact -augment off,on …] [-resume]
//	bonsai data cifar10 [-dir DIR]
//
// -data takes a CIFAR-10 binary directory (see bonsai data) or imagefolder:DIR,
// DIR/train and DIR/val holding one folder of PNG/JPEG files per class, brought to
// the model's input size.
//
// Run "bonsai help" or "bonsai COMMAND -h" for the flags of a command.
//
// Every command exits with status 0 on success, 1 when it fails, 2 for a
// mistake in the command line (an unknown flag, a bad or missing value),
// found before any work starts. train and prune stopped by SIGINT or
// SIGTERM save their state, print the command that continues them and exit
// with 130 or 143. A run directory (-out) is locked while a run uses it.
// serve stops on SIGINT or SIGTERM after answering the requests it has
// received, and exits with 0.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
)

// command is one subcommand: it parses its own flags from args and writes
// its report to out.
type command struct {
	summary string
	run     func(args []string, out, errOut io.Writer) error
}

var commands = map[string]command{
	"info":      {"print a model's layers, parameters and MACs", runInfo},
	"eval":      {"measure a model's accuracy on the CIFAR-10 test set", runEval},
	"train":     {"train or fine-tune a model on CIFAR-10", runTrain},
	"bench":     {"measure inference latency and throughput", runBench},
	"demo":      {"train a small CNN on generated data, prune half its MACs, fine-tune", runDemo},
	"prune":     {"remove the least important channels of a model, then fine-tune", runPrune},
	"predict":   {"classify image files (PNG, JPEG) with a model", runPredict},
	"serve":     {"serve a model over HTTP, batching concurrent requests", runServe},
	"export":    {"write a model as ONNX (opset 13, dynamic batch)", runExport},
	"prune-rho": {"rank correlation of pruning criteria with the loss increase of removing each channel alone", runPruneRho},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit status (see
// exitStatus): 0 success, 1 failure, 2 bad usage, 128 + N after signal N.
func run(args []string, out, errOut io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(errOut)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(errOut, "bonsai: unknown command %q\n", args[0])
		usage(errOut)
		return 2
	}
	code, msg := exitStatus(cmd.run(args[1:], out, errOut))
	if msg != "" {
		fmt.Fprintf(errOut, "bonsai %s: %s\n", args[0], msg)
	}
	return code
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: bonsai COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'bonsai COMMAND -h' for a command's flags.")
}

// newFlags returns a flag set that reports errors instead of exiting and
// prints its usage to errOut.
func newFlags(name string, errOut io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("bonsai "+name, flag.ContinueOnError)
	fs.SetOutput(errOut)
	return fs
}

// parse parses args, turning flag errors into usage errors and rejecting
// positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// modelFromFlags returns the model that -arch and -weights name: the file's
// (whose metadata may name the architecture) or, without a file, the
// architecture with PyTorch-default weights.
func modelFromFlags(arch, weights string) (nn.Module, zoo.Arch, error) {
	if err := checkArch(arch); err != nil {
		return nil, zoo.Arch{}, err
	}
	var m nn.Module
	switch {
	case weights != "":
		var meta zoo.Meta
		var err error
		if m, meta, err = zoo.Load(weights, arch); err != nil {
			return nil, zoo.Arch{}, err
		}
		arch = meta.Arch
	case arch != "":
		var err error
		if m, err = zoo.New(arch); err != nil {
			return nil, zoo.Arch{}, err
		}
	default:
		return nil, zoo.Arch{}, usagef("give -arch NAME or -weights FILE")
	}
	a, err := zoo.Lookup(arch)
	return m, a, err
}
