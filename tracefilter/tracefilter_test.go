package tracefilter

import (
	"math"
	"reflect"
	"testing"

	"github.com/tandemml/tandem"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Clause
	}{
		{"", nil},
		{"trace.status = 'OK'", []Clause{{Entity: Attribute, Key: "status", Op: "=", Str: "OK"}}},
		{"status != \"ERROR\"", []Clause{{Entity: Attribute, Key: "status", Op: "!=", Str: "ERROR"}}},
		{"trace.timestamp > 10", []Clause{{Entity: Attribute, Key: "timestamp_ms", Op: ">", Str: "10", Num: 10, IsNum: true}}},
		{"attributes.execution_time_ms <= 2.5", []Clause{{Entity: Attribute, Key: "execution_time_ms", Op: "<=", Str: "2.5", Num: 2.5, IsNum: true}}},
		{"tags.`my key` LIKE 'a%' and metadata.m IS NOT NULL", []Clause{
			{Entity: Tag, Key: "my key", Op: "LIKE", Str: "a%"}, {Entity: Metadata, Key: "m", Op: "IS NOT NULL"}}},
		{"request_metadata.`mlflow.sourceRun` = 'r1'", []Clause{{Entity: Metadata, Key: "mlflow.sourceRun", Op: "=", Str: "r1"}}},
		{"span.name IN ('a', 'b')", []Clause{{Entity: Span, Key: "name", Op: "IN", List: []string{"a", "b"}}}},
		{"span.attributes.model = 'x'", []Clause{{Entity: Span, Key: "attributes.model", Op: "=", Str: "x"}}},
		{"trace.text ILIKE '%hello%'", []Clause{{Entity: Attribute, Key: "text", Op: "ILIKE", Str: "%hello%"}}},
		{"feedback.helpful = 'true'", []Clause{{Entity: Feedback, Key: "helpful", Op: "=", Str: "true"}}},
		{"expectation.`exp x` IS NULL", []Clause{{Entity: Expectation, Key: "exp x", Op: "IS NULL"}}},
		{"trace.name NOT IN ('x')", []Clause{{Entity: Attribute, Key: "name", Op: "NOT IN", List: []string{"x"}}}},
		// The prompt attribute is the linked prompts.
		{`prompt = "greeting/2"`, []Clause{{Entity: Tag, Key: LinkedPrompts, Op: "=", Str: "greeting/2"}}},
		{"tags.`mlflow.linkedPrompts` = 'g/1'", []Clause{{Entity: Tag, Key: LinkedPrompts, Op: "=", Str: "g/1"}}},
		// name and run_id are a tag and a metadata key: they may be absent.
		{"run_id IS NULL and trace.name IS NOT NULL", []Clause{{Entity: Attribute, Key: "run_id", Op: "IS NULL"}, {Entity: Attribute, Key: "name", Op: "IS NOT NULL"}}},
		// Out of float range: +Inf, as Python reads it.
		{"execution_time_ms > 1e309", []Clause{{Entity: Attribute, Key: "execution_time_ms", Op: ">", Str: "1e309", Num: math.Inf(1), IsNum: true}}},
	} {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q) = %+v; want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, in := range []string{
		"trace.status ==", "nosuch.x = 'a'", "trace.bogus = 'a'", "trace.timestamp_ms = 'abc'",
		"trace.timestamp_ms LIKE '1%'", "tags.x > 'a'", "trace.status = 'OK' OR tags.a = 'b'",
		"trace.text = 'x'", "span.bogus = 'x'", "tags.x = 'unterminated", "trace.status IN ('a'",
		"tags. = 'a'", "trace.status = 'OK' trace.name = 'x'", "trace.status !",
		`prompt != "g/1"`, `prompt = "g"`, `prompt = "a/b/1"`, "tags.`mlflow.linkedPrompts` LIKE 'g/%'",
		// Not filter keys for MLflow (experiment_id orders only).
		"state = 'OK'", "trace.experiment_id = '0'", "trace.status IS NULL",
	} {
		_, err := Parse(in)
		if tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("Parse(%q): %v; want EINVALID", in, err)
		}
	}
}

func TestParseOrder(t *testing.T) {
	for in, want := range map[string]Order{
		"timestamp_ms DESC":        {Entity: Attribute, Key: "timestamp_ms"},
		"trace.execution_time":     {Entity: Attribute, Key: "execution_time_ms", Asc: true},
		"tags.`a b` ASC":           {Entity: Tag, Key: "a b", Asc: true},
		"attributes.status desc":   {Entity: Attribute, Key: "status"},
		"request_metadata.x DESC ": {Entity: Metadata, Key: "x"},
	} {
		got, err := ParseOrder(in)
		if err != nil || got != want {
			t.Errorf("ParseOrder(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "text", "span.name", "timestamp_ms sideways", "bogus"} {
		if _, err := ParseOrder(in); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("ParseOrder(%q): %v; want EINVALID", in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"trace.status = 'OK'", "tags.`x` LIKE '%a' AND span.name IN ('a','b')",
		"trace.timestamp_ms > 1e3", "feedback.x IS NOT NULL", "`", "span.attributes.k = \"v\"", "-.5e+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := Parse(s)
		if err != nil {
			if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("Parse(%q): error %v is not EINVALID", s, err)
			}
			return
		}
		for _, c := range cs {
			if c.Entity == "" || c.Key == "" || c.Op == "" {
				t.Fatalf("Parse(%q): incomplete clause %+v", s, c)
			}
		}
		ParseOrder(s)
	})
}
