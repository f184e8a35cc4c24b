package train

import (
	"testing"

	"github.com/bonsai-dl/bonsai/data"
)

// Test helpers for the external test package (train_test), whose tests import packages
// that import train (prune).

func Synthetic(n int, seed uint64) *data.Dataset { return synthetic(n, seed) }

func DefaultTestConfig() Config { return testConfig() }

func TrainResumed(t *testing.T, cfg Config, dir string, trainSet, testSet *data.Dataset, stopAt int) {
	trainResumed(t, cfg, dir, trainSet, testSet, stopAt)
}
