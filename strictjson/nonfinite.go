package strictjson

import "bytes"

// QuoteNonFinite returns body with the bare NaN, Infinity and -Infinity
// that Python's json.dumps writes for non-finite floats (a raw REST call
// that sends data=json.dumps(...); requests' json= refuses them) made
// JSON strings:
// "NaN", "Infinity", "-Infinity", which a number field that takes
// protobuf's JSON spellings reads. Text inside strings is left alone, and
// so is anything that is not one of the three words in a value's place; a
// body without them is returned as it is.
func QuoteNonFinite(body []byte) []byte {
	if !bytes.Contains(body, []byte("NaN")) && !bytes.Contains(body, []byte("Infinity")) {
		return body
	}
	var out []byte // nil until the first change
	inString, escaped := false, false
	for i := 0; i < len(body); i++ {
		c := body[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			if out != nil {
				out = append(out, c)
			}
			continue
		}
		if c == '"' {
			inString = true
		}
		word := ""
		for _, w := range []string{"NaN", "Infinity", "-Infinity"} {
			if bytes.HasPrefix(body[i:], []byte(w)) && valuePlace(body[:i]) && wordEnds(body[i+len(w):]) {
				word = w
				break
			}
		}
		if word == "" {
			if out != nil {
				out = append(out, c)
			}
			continue
		}
		if out == nil {
			out = append(make([]byte, 0, len(body)+8), body[:i]...)
		}
		out = append(out, '"')
		out = append(out, word...)
		out = append(out, '"')
		i += len(word) - 1
	}
	if out == nil {
		return body
	}
	return out
}

// valuePlace reports whether a value may start after before: its last
// byte that is not space is ':', '[' or ',' (or there is none).
func valuePlace(before []byte) bool {
	t := bytes.TrimRight(before, " \t\r\n")
	if len(t) == 0 {
		return true
	}
	switch t[len(t)-1] {
	case ':', '[', ',':
		return true
	}
	return false
}

// wordEnds reports whether a word ends where after begins.
func wordEnds(after []byte) bool {
	if len(after) == 0 {
		return true
	}
	switch after[0] {
	case ' ', '\t', '\r', '\n', ',', ']', '}':
		return true
	}
	return false
}
