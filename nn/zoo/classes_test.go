package zoo

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/nn"
)

func TestClassNamesByArchitecture(t *testing.T) {
	for _, tc := range []struct {
		arch        string
		n           int
		first, last string
	}{
		{"resnet20", 10, "airplane", "truck"},
		{"vgg16_bn", 10, "airplane", "truck"},
		{"resnet18", 1000, "tench", "toilet tissue"},
		{"resnet50", 1000, "tench", "toilet tissue"},
	} {
		got := DefaultClasses(tc.arch)
		if len(got) != tc.n || got[0] != tc.first || got[len(got)-1] != tc.last {
			t.Errorf("%s: %d names, first %q, last %q; want %d, %q, %q", tc.arch, len(got), first(got), last(got), tc.n, tc.first, tc.last)
		}
		for i, s := range got {
			if s == "" || strings.TrimSpace(s) != s {
				t.Errorf("%s: name %d is %q", tc.arch, i, s)
			}
		}
	}
	if got := DefaultClasses("nosuch"); got != nil {
		t.Errorf("unknown architecture: %v, want nil", got)
	}
	// The caller owns the slice.
	a := DefaultClasses("resnet20")
	a[0] = "changed"
	if DefaultClasses("resnet20")[0] != "airplane" {
		t.Error("DefaultClasses returned a shared slice")
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

func TestMetaClassesRoundTrip(t *testing.T) {
	names := []string{"a \"quoted\" one", "two, with comma", "ünïcode"}
	md := Meta{Arch: "resnet8", Classes: names}.Map()
	got, err := ParseMeta(md)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Classes, names) {
		t.Errorf("classes %q, want %q", got.Classes, names)
	}
	if _, ok := got.Extra[MetaClasses]; ok {
		t.Error("classes also left in Extra")
	}
	if _, ok := (Meta{Arch: "resnet8"}).Map()[MetaClasses]; ok {
		t.Error("Map wrote classes for a Meta without them")
	}
	for _, bad := range []string{"", "[]", "null", `["a", 3]`, `{"a": 1}`, `["a"`} {
		if _, err := ParseMeta(map[string]string{MetaClasses: bad}); err == nil || !strings.Contains(err.Error(), MetaClasses) {
			t.Errorf("classes %q: error %v, want one naming %q", bad, err, MetaClasses)
		}
	}
}

func TestLoadReadsClasses(t *testing.T) {
	m, err := New("resnet8")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	names := DefaultClasses("resnet8")
	names[3] = "kitten"
	if err := nn.SaveState(m, Meta{Arch: "resnet8", Classes: names}.Map()).WriteFile(path); err != nil {
		t.Fatal(err)
	}
	_, meta, err := Load(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(meta.Classes, names) {
		t.Errorf("Load: classes %q, want %q", meta.Classes, names)
	}
}
