package safetensors

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// metadataKey is the reserved header key holding the string metadata.
const metadataKey = "__metadata__"

// entry is one tensor's description from a header, validated against the
// data buffer.
type entry struct {
	name       string
	dtype      DType
	shape      []int // non-nil, empty for a 0-d tensor
	begin, end int   // byte range [begin, end) of the data buffer
}

// parseHeader parses and validates the JSON header of a safetensors file
// whose data buffer is bufLen bytes long. It returns the tensor entries
// sorted by position in the buffer, which they tile exactly, and the
// metadata, nil if the header has none. Its errors are not prefixed with
// "safetensors: ".
func parseHeader(header []byte, bufLen int) ([]entry, map[string]string, error) {
	if !utf8.Valid(header) {
		return nil, nil, errors.New("header is not valid UTF-8")
	}
	if !json.Valid(header) {
		return nil, nil, fmt.Errorf("header is not valid JSON: %v", jsonSyntaxError(header))
	}
	members, err := objectMembers(header, "header")
	if err != nil {
		return nil, nil, err
	}
	var meta map[string]string
	entries := make([]entry, 0, len(members))
	for _, m := range members {
		if m.key == metadataKey {
			if meta, err = parseMetadata(m.value); err != nil {
				return nil, nil, err
			}
			continue
		}
		e, err := parseEntry(m.key, m.value, bufLen)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
	}
	if err := checkTiling(entries, bufLen); err != nil {
		return nil, nil, err
	}
	return entries, meta, nil
}

// parseMetadata parses the value of "__metadata__", which must be an object
// whose values are all strings.
func parseMetadata(raw []byte) (map[string]string, error) {
	members, err := objectMembers(raw, strconv.Quote(metadataKey))
	if err != nil {
		return nil, err
	}
	meta := make(map[string]string, len(members))
	for _, m := range members {
		s, ok := jsonString(m.value)
		if !ok {
			return nil, fmt.Errorf("%q: value of %q is a JSON %s, want a string", metadataKey, m.key, jsonKind(m.value))
		}
		meta[m.key] = s
	}
	return meta, nil
}

// parseEntry parses and validates the header entry of the tensor name.
func parseEntry(name string, raw []byte, bufLen int) (entry, error) {
	e := entry{name: name}
	if name == "" {
		return e, errors.New("header has a tensor with an empty name")
	}
	fail := func(format string, args ...any) (entry, error) {
		return e, fmt.Errorf("tensor %q: %s", name, fmt.Sprintf(format, args...))
	}
	members, err := objectMembers(raw, "entry")
	if err != nil {
		return fail("%v", err)
	}
	var offsets []int
	var haveDType, haveShape bool
	for _, m := range members {
		switch m.key {
		case "dtype":
			s, ok := jsonString(m.value)
			if !ok {
				return fail("dtype is a JSON %s, want a string", jsonKind(m.value))
			}
			e.dtype, haveDType = DType(s), true
			if e.dtype.Size() == 0 {
				return fail("unknown dtype %q", s)
			}
		case "shape":
			if e.shape, err = intList(m.value); err != nil {
				return fail("shape %v", err)
			}
			haveShape = true
		case "data_offsets":
			if offsets, err = intList(m.value); err != nil {
				return fail("data_offsets %v", err)
			}
		default:
			return fail("unknown field %q", m.key)
		}
	}
	switch {
	case !haveDType:
		return fail("missing dtype")
	case !haveShape:
		return fail("missing shape")
	case offsets == nil:
		return fail("missing data_offsets")
	}
	want, err := byteLen(e.dtype, e.shape)
	if err != nil {
		return fail("%v", err)
	}
	if len(offsets) != 2 {
		return fail("data_offsets %v: want exactly two values, [begin end]", offsets)
	}
	e.begin, e.end = offsets[0], offsets[1]
	switch {
	case e.begin < 0 || e.end < 0:
		return fail("data_offsets %v has a negative offset", offsets)
	case e.begin > e.end:
		return fail("data_offsets %v begin after they end", offsets)
	case e.end > bufLen:
		return fail("data_offsets %v end beyond the %d-byte data buffer", offsets, bufLen)
	case e.end-e.begin != want:
		return fail("data_offsets %v hold %d bytes, want %d (%s %v)", offsets, e.end-e.begin, want, e.dtype, e.shape)
	}
	return e, nil
}

// checkTiling sorts entries by position and checks that they cover the data
// buffer [0, bufLen) exactly, without overlaps or gaps. Empty tensors may
// sit anywhere they do not split another tensor.
func checkTiling(entries []entry, bufLen int) error {
	slices.SortFunc(entries, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end), cmp.Compare(a.name, b.name))
	})
	pos := 0 // end of the covered prefix of the buffer
	for i, e := range entries {
		if e.begin < pos {
			p := entries[i-1] // ends at pos, and is not empty since e.begin >= p.begin
			return fmt.Errorf("tensor %q: data_offsets [%d %d] overlap tensor %q at [%d %d]", e.name, e.begin, e.end, p.name, p.begin, p.end)
		}
		if e.begin > pos {
			return fmt.Errorf("data buffer bytes [%d, %d) before tensor %q are a gap, not covered by any tensor", pos, e.begin, e.name)
		}
		pos = e.end
	}
	if pos != bufLen {
		return fmt.Errorf("data buffer bytes [%d, %d) at its end are not covered by any tensor", pos, bufLen)
	}
	return nil
}

// member is one key-value pair of a JSON object.
type member struct {
	key   string
	value json.RawMessage
}

// objectMembers returns the members of the JSON object raw, which must be
// valid JSON, in order. It fails if raw is not an object or repeats a key;
// what names raw in those errors.
func objectMembers(raw []byte, what string) ([]member, error) {
	if k := jsonKind(raw); k != "object" {
		return nil, fmt.Errorf("%s is a JSON %s, want an object", what, k)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // the opening brace
		return nil, fmt.Errorf("%s: %v", what, err)
	}
	var members []member
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", what, err)
		}
		key, ok := tok.(string)
		if !ok { // unreachable for valid JSON
			return nil, fmt.Errorf("%s: object key is %v, want a string", what, tok)
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("%s: %v", what, err)
		}
		if seen[key] {
			return nil, fmt.Errorf("%s has duplicate key %q", what, key)
		}
		seen[key] = true
		members = append(members, member{key, value})
	}
	return members, nil
}

// intList parses raw, which must be valid JSON, as an array of integers that
// fit in int. The result is non-nil, even for an empty array. Its errors
// read as the continuation of a sentence naming the value.
func intList(raw []byte) ([]int, error) {
	if k := jsonKind(raw); k != "array" {
		return nil, fmt.Errorf("is a JSON %s, want an array of integers", k)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil { // unreachable for valid JSON
		return nil, fmt.Errorf("is not an array of integers: %v", err)
	}
	out := make([]int, len(elems))
	for i, el := range elems {
		lit := string(bytes.TrimSpace(el))
		n, err := strconv.ParseInt(lit, 10, 0)
		if err != nil {
			if len(lit) > 24 {
				lit = lit[:21] + "..."
			}
			return nil, fmt.Errorf("element %d is %s, want an integer that fits in int", i, lit)
		}
		out[i] = int(n)
	}
	return out, nil
}

// jsonString returns the string raw holds, and false if raw, which must be
// valid JSON, is not a string.
func jsonString(raw []byte) (string, bool) {
	if jsonKind(raw) != "string" {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil { // unreachable for valid JSON
		return "", false
	}
	return s, true
}

// jsonKind names the kind of the JSON value raw, which must be valid JSON.
func jsonKind(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// jsonSyntaxError describes why header, which json.Valid rejects, is not
// valid JSON.
func jsonSyntaxError(header []byte) error {
	var v json.RawMessage
	err := json.Unmarshal(header, &v)
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("%v (at byte %d)", syn, syn.Offset)
	}
	if err == nil { // unreachable: json.Valid and json.Unmarshal agree
		err = errors.New("syntax error")
	}
	return err
}
