package strictjson

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Check refuses what encoding/json would let through: invalid UTF-8,
// anything but one JSON value (data after it), a key twice in one object,
// nesting deeper than MaxDepth. It does not build the value; Decode uses
// it before encoding/json decodes the body.
func Check(body []byte) error {
	if !utf8.Valid(body) {
		return &Error{Kind: Malformed, Detail: "the body is not valid UTF-8"}
	}
	if !json.Valid(body) {
		// One value followed by more is trailing data; anything else is
		// a syntax error, described by encoding/json.
		dec := json.NewDecoder(bytes.NewReader(body))
		var v any
		if err := dec.Decode(&v); err != nil {
			return malformed(err)
		}
		return &Error{Kind: Trailing}
	}
	return scanKeys(body)
}

// frame is an open object or array during scanKeys.
type frame struct {
	object  bool
	wantKey bool // object: the next string is a key
	first   int  // object: where its keys start in scanKeys' list
	index   int  // array: the index of the current element
}

// scanKeys walks valid JSON and refuses a key given twice in one object.
// The keys of the open objects share one list (subslices of b where they
// have no escapes), so a body of many small objects allocates little.
func scanKeys(b []byte) error {
	var stack []frame
	var keys [][]byte
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '{', '[':
			if len(stack) >= MaxDepth {
				return &Error{Kind: Malformed, Detail: "nested more than " + strconv.Itoa(MaxDepth) + " levels deep"}
			}
			stack = append(stack, frame{object: c == '{', wantKey: c == '{', first: len(keys)})
		case '}', ']':
			keys = keys[:stack[len(stack)-1].first]
			stack = stack[:len(stack)-1]
		case ',':
			top := &stack[len(stack)-1]
			if top.object {
				top.wantKey = true
			} else {
				top.index++
			}
		case '"':
			j := i + 1
			escaped := false
			for ; b[j] != '"'; j++ {
				if b[j] == '\\' {
					escaped = true
					j++
				}
			}
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
				top := &stack[n-1]
				k := b[i+1 : j]
				if escaped {
					var s string
					json.Unmarshal(b[i:j+1], &s) // valid JSON: cannot fail
					k = []byte(s)
				}
				for _, seen := range keys[top.first:] {
					if bytes.Equal(seen, k) {
						return &Error{Kind: Duplicate, Path: join(pathOf(stack, keys, n-2), string(k))}
					}
				}
				keys = append(keys, k)
				top.wantKey = false
			}
			i = j
		}
	}
	return nil
}

// pathOf is the JSON path of the element frame i of stack is at (frame
// i+1 is open inside it): its container's path (pathOf(i-1); "" for the
// body, i = -1) and its current key or index.
func pathOf(stack []frame, keys [][]byte, i int) string {
	if i < 0 {
		return ""
	}
	f := stack[i]
	if !f.object {
		return pathOf(stack, keys, i-1) + "[" + strconv.Itoa(f.index) + "]"
	}
	return join(pathOf(stack, keys, i-1), string(keys[stack[i+1].first-1]))
}
