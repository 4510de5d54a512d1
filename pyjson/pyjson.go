// Package pyjson writes JSON text as Python's json.dumps writes it: ", "
// between items and ": " after keys, floats as Python prints them, and
// optionally every non-ASCII character escaped (ensure_ascii, Python's
// default). MLflow keeps some values as the text json.dumps made of them
// (span attributes, serialized expectation values), so tandem writes the
// same text.
package pyjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Dumps rewrites the JSON text raw as json.dumps(json.loads(raw)) would
// (numbers as Python floats when floats is set: MLflow reads them through
// protobuf's Value, whose numbers are doubles). Object keys keep their
// order.
func Dumps(raw []byte, ensureASCII, floats bool) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var b strings.Builder
	if err := value(dec, &b, ensureASCII, floats); err != nil {
		return "", err
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", fmt.Errorf("pyjson: trailing data")
	}
	return b.String(), nil
}

func value(dec *json.Decoder, b *strings.Builder, ascii, floats bool) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	switch x := t.(type) {
	case json.Delim:
		open, close := x, json.Delim('}')
		if open == '[' {
			close = ']'
		}
		b.WriteRune(rune(open))
		for i := 0; dec.More(); i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			if open == '{' {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				String(b, k.(string), ascii)
				b.WriteString(": ")
			}
			if err := value(dec, b, ascii, floats); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return err
		}
		b.WriteRune(rune(close))
	case string:
		String(b, x, ascii)
	case json.Number:
		if f, err := x.Float64(); err == nil && (floats || strings.ContainsAny(string(x), ".eE")) {
			b.WriteString(Float(f))
		} else {
			b.WriteString(string(x))
		}
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case nil:
		b.WriteString("null")
	}
	return nil
}

// String writes s as a JSON string the way json.dumps does.
func String(b *strings.Builder, s string, ensureASCII bool) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20 || (ensureASCII && r >= 0x7f && r < 0x10000):
				fmt.Fprintf(b, `\u%04x`, r)
			case ensureASCII && r >= 0x10000:
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// Float is Python's repr of a float, as json.dumps writes it.
func Float(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	if a := math.Abs(f); a == 0 || (a >= 1e-4 && a < 1e16) {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	return strconv.FormatFloat(f, 'e', -1, 64)
}
