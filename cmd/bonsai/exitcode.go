package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/prune"
	"github.com/bonsai-dl/bonsai/train"
)

// Exit statuses, the same for every subcommand.
const (
	exitOK      = 0
	exitFailure = 1 // the command could not do its work
	exitUsage   = 2 // a mistake in the command line
	// A command stopped by a signal after saving its state exits with
	// 128 + the signal's number, as a shell reports a process the signal
	// killed: 130 after SIGINT, 143 after SIGTERM.
	exitSignalBase = 128
)

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// stoppedError reports a command that stopped on a signal after saving its
// state; msg (printed as is) says how to continue, err is the cancellation.
type stoppedError struct {
	sig syscall.Signal
	msg string
	err error
}

func (e stoppedError) Error() string { return e.msg }

func (e stoppedError) Unwrap() error { return e.err }

// exitStatus returns the status of a command that returned err and the
// message to print after "bonsai CMD: " ("" for none).
func exitStatus(err error) (int, string) {
	var stopped stoppedError
	var ce *train.ConfigError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK, ""
	case errors.As(err, &stopped):
		return exitSignalBase + int(stopped.sig), ""
	case errors.As(err, new(usageError)):
		return exitUsage, err.Error()
	case errors.As(err, &ce), errors.As(err, new(*prune.ConfigError)):
		// A Config field the command line set (commands that build a
		// train.Config or prune.RunConfig check it first and name the
		// flag; this is the backstop).
		return exitUsage, err.Error()
	case errors.Is(err, zoo.ErrNoArch):
		return exitFailure, err.Error() + " with -arch"
	}
	return exitFailure, err.Error()
}

// signalContext returns a context that the first SIGINT or SIGTERM
// cancels, a function that returns that signal (nil before one came), and
// one that stops listening. After the first signal a second one ends the
// process at once, as if nothing listened.
func signalContext() (ctx context.Context, caught func() syscall.Signal, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	got := make(chan syscall.Signal, 1)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			signal.Stop(ch)
			got <- s.(syscall.Signal)
			cancel()
		case <-done:
		}
	}()
	var sig syscall.Signal
	caught = func() syscall.Signal {
		if sig == 0 {
			select {
			case sig = <-got:
			default:
			}
		}
		return sig
	}
	stop = func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
	return ctx, caught, stop
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// commandLine writes args as a shell command line.
func commandLine(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// onlyCanceled reports whether err is a context's cancellation and nothing
// else (no failure joined to it, such as a checkpoint that could not be
// written).
func onlyCanceled(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs := j.Unwrap()
		for _, e := range errs {
			if !onlyCanceled(e) {
				return false
			}
		}
		return len(errs) > 0
	}
	return err != nil && errors.Is(err, context.Canceled)
}

// stopReason says what sig did to a command.
func stopReason(sig syscall.Signal) string {
	if sig == syscall.SIGTERM {
		return "terminated (SIGTERM)"
	}
	return "interrupted (SIGINT)"
}
