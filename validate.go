package tandem

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"unicode/utf8"
)

// Storable text: what every metadata backend can hold. SQLite stores any
// byte string; PostgreSQL refuses NUL characters in text (and in jsonb)
// and invalid UTF-8. A value SQLite accepted and PostgreSQL refuses would
// commit on a SQLite primary and then stop a PostgreSQL secondary for good,
// so the rule is one, checked before a change becomes a journal entry,
// whatever the backend of the region that takes the write.

// CheckText refuses a string no backend may store: one holding a NUL
// character or bytes that are not UTF-8 (EINVALID, naming field).
func CheckText(field, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return Errorf(EINVALID, "Invalid value for parameter '%s' supplied: NUL characters are not allowed", field)
	}
	if !utf8.ValidString(s) {
		return Errorf(EINVALID, "Invalid value for parameter '%s' supplied: not valid UTF-8", field)
	}
	return nil
}

// CheckTexts is CheckText on each field -> value, in field order, so the
// first refused is always the same one.
func CheckTexts(fields map[string]string) error {
	for _, k := range SortedKeys(fields) {
		if err := CheckText(k, fields[k]); err != nil {
			return err
		}
	}
	return nil
}

// MissingParam is MLflow's error for a required request parameter that is
// absent or empty (EINVALID).
func MissingParam(field string) error {
	return Errorf(EINVALID, "Missing value for required parameter '%s'. See the API docs for more information about request parameters.", field)
}

// RequireParams takes field, value pairs and returns MissingParam for the
// first whose value is "" (nil when none is).
func RequireParams(fieldValues ...string) error {
	for i := 0; i+1 < len(fieldValues); i += 2 {
		if fieldValues[i+1] == "" {
			return MissingParam(fieldValues[i])
		}
	}
	return nil
}

// nulEscape is how encoding/json writes a NUL character in a string.
var nulEscape = []byte(`\u0000`)

// CheckPayload refuses a journal payload (JSON) that holds a string, key or
// value, with a NUL character (EINVALID). It is the last check before an
// entry exists, run for every op: the domain validators name the field,
// this one makes sure no op forgot one. Payloads encoded by encoding/json
// are valid UTF-8 (invalid bytes became U+FFFD on both sides), so only NUL
// remains to refuse; the common payload with no "\u0000" costs one scan.
func CheckPayload(payload []byte) error {
	if !bytes.Contains(payload, nulEscape) {
		return nil
	}
	// "\\u0000" (an escaped backslash before "u0000") is not a NUL: decode
	// the strings to be sure.
	dec := json.NewDecoder(bytes.NewReader(payload))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return Errorf(EINVALID, "invalid payload: %v", err)
		}
		if s, ok := tok.(string); ok && strings.IndexByte(s, 0) >= 0 {
			return Errorf(EINVALID, "Invalid value %q supplied: NUL characters are not allowed", s)
		}
	}
}
