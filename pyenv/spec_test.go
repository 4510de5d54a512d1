package pyenv

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

func TestParseConda(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		python  string
		pip     []string
		ignored []string
	}{
		{"mlflow's own conda.yaml", `
channels:
- conda-forge
dependencies:
- python=3.11.7
- pip<=23.3.1
- pip:
  - mlflow==2.9.2
  - cloudpickle==3.0.0
  - scikit-learn==1.3.2
name: mlflow-env
`, "==3.11.7.*", []string{"cloudpickle==3.0.0", "mlflow==2.9.2", "scikit-learn==1.3.2"}, nil},
		{"conda packages with every version form", `
name: train
channels: [defaults]
dependencies:
  - python>=3.9,<3.13
  - numpy=1.26
  - pandas 2.1.*
  - conda-forge::scikit-learn>=1.3
  - scipy=1.11.4=py311h64a7726_0
  - matplotlib-base
  - pytorch==2.1.0
  - Pillow
`, ">=3.9,<3.13", []string{"matplotlib", "numpy==1.26.*", "pandas==2.1.*", "pillow", "scikit-learn>=1.3", "scipy==1.11.4", "torch==2.1.0"}, nil},
		{"an exported environment: system libraries left out", `
name: exported
dependencies:
  - _libgcc_mutex=0.1=conda_forge
  - libgcc-ng=13.2.0=h77fa898_7
  - openssl=3.3.0=h4ab18f5_3
  - python=3.11.7=hab00c5b_0_cpython
  - six=1.16.0=pyh6c4a22f_0
  - pip=24.0=pyhd8ed1ab_0
`, "==3.11.7", []string{"six==1.16.0"}, []string{"_libgcc_mutex", "libgcc-ng", "openssl"}},
		{"pip entries normalised, deduplicated, sorted", `
dependencies:
  - pip:
    - "Scikit_Learn >= 1.3"
    - scikit-learn>=1.3
    - requests[socks] ==2.31.0 ; python_version >= "3.8"
    - --extra-index-url https://example.invalid/simple
    - mypkg @ https://example.invalid/mypkg-1.0.tar.gz
`, "", []string{"--extra-index-url https://example.invalid/simple", "mypkg @ https://example.invalid/mypkg-1.0.tar.gz",
			`requests[socks]==2.31.0; python_version >= "3.8"`, "scikit-learn>=1.3"}, nil},
		{"no dependencies", "name: empty\n", "", []string{}, nil},
		{"empty pip list", "dependencies:\n  - python=3.11\n  - pip:\n", "==3.11.*", []string{}, nil},
	}
	for _, c := range cases {
		spec, err := ParseConda("conda.yaml", []byte(c.yaml))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if spec.Python != c.python || !reflect.DeepEqual(spec.Pip, c.pip) || !reflect.DeepEqual(spec.Ignored, c.ignored) {
			t.Errorf("%s:\n got python %q pip %q ignored %q\nwant python %q pip %q ignored %q", c.name,
				spec.Python, spec.Pip, spec.Ignored, c.python, c.pip, c.ignored)
		}
	}
}

func TestParseCondaErrors(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"not a mapping":       {"- numpy\n", "conda.yaml:1:1: a conda environment file is a mapping"},
		"dependencies a map":  {"dependencies:\n  numpy: 1\n", "conda.yaml:2:3: dependencies must be a list"},
		"pip not a list":      {"dependencies:\n  - pip: six\n", "conda.yaml:2:10: pip: must be a list"},
		"other mapping":       {"dependencies:\n  - conda: [x]\n", "conda.yaml:2:5: a dependency is a conda package"},
		"bracket spec":        {"dependencies:\n  - numpy[version='>=1.2']\n", "bracket and '|' forms"},
		"requirement file":    {"dependencies:\n  - pip:\n    - -r requirements.txt\n", "conda.yaml:3:7: \"-r requirements.txt\" refers to another file"},
		"editable":            {"dependencies:\n  - pip:\n    - -e .\n", "refers to another file"},
		"local path":          {"dependencies:\n  - pip:\n    - ./mypkg\n", "is a local path"},
		"bad yaml":            {"dependencies: [\n", "conda.yaml:"},
		"two documents":       {"dependencies: []\n---\nname: x\n", "a second YAML document"},
		"nested pip mappings": {"dependencies:\n  - pip:\n    - {a: b}\n", "a pip requirement must be a string"},
	}
	for name, c := range cases {
		_, err := ParseConda("conda.yaml", []byte(c.yaml))
		if tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want EINVALID containing %q", name, err, c.want)
		}
	}
}

func TestParseRequirements(t *testing.T) {
	got, err := ParseRequirements("requirements.txt", []byte("# training\nsix==1.16.0  # pinned\n\nrequests \\\n  >=2.0\nhttps://example.invalid/x.whl#sha256=ab\r\nsix == 1.16.0\n"))
	want := []string{"https://example.invalid/x.whl#sha256=ab", "requests>=2.0", "six==1.16.0"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	_, err = ParseRequirements("requirements.txt", []byte("six\n-c constraints.txt\n"))
	if tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), "requirements.txt:2:") {
		t.Fatalf("constraint file: %v", err)
	}
}

// Equal requirement lists, however written, give one digest; a different
// list or base Python gives another.
func TestDigest(t *testing.T) {
	a, _ := ParseRequirements("a", []byte("Six==1.16.0\nrequests>=2\n"))
	b, _ := ParseConda("b", []byte("dependencies:\n  - python=3.11\n  - pip:\n    - requests >= 2\n    - six==1.16.0\n"))
	c, _ := ParseRequirements("c", []byte("six==1.16.0\n"))
	da, db := (&Spec{Pip: a}).Digest("3.11.7"), b.Digest("3.11.7")
	if da != db {
		t.Fatalf("equal lists, digests %s and %s", da, db)
	}
	if dc := (&Spec{Pip: c}).Digest("3.11.7"); dc == da {
		t.Fatal("different lists share a digest")
	}
	if d := b.Digest("3.12.1"); d == db {
		t.Fatal("different base pythons share a digest")
	}
}

func TestCheckPython(t *testing.T) {
	cases := []struct {
		want, have string
		ok         bool
	}{
		{"", "3.11.7", true},
		{"==3.11.*", "3.11.7", true},
		{"==3.11.7.*", "3.11.2", true}, // major.minor only
		{"==3.10.*", "3.11.7", false},
		{">=3.9,<3.13", "3.11.7", true},
		{">=3.12", "3.11.7", false},
		{"<3.11", "3.11.7", false},
		{"<=3.11", "3.11.7", true},
		{"!=3.11", "3.11.7", false},
		{"~=3.9", "3.11.7", true},
		{"==2.7.*", "3.11.7", false},
		{"==3.*", "3.11.7", true}, // conda python=3
		{"==2.*", "3.11.7", false},
	}
	for _, c := range cases {
		err := (&Spec{Python: c.want}).CheckPython(c.have)
		if (err == nil) != c.ok {
			t.Errorf("python %q on %s: got %v, want ok=%v", c.want, c.have, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), c.have) {
			t.Errorf("python %q on %s: message %q does not name the host's version", c.want, c.have, err)
		}
	}
}

func TestRequirements(t *testing.T) {
	files := map[string][]byte{
		"env/conda.yaml":   []byte("dependencies:\n  - python=3.11\n  - numpy\n"),
		"requirements.txt": []byte("six==1.16.0\n"),
	}
	s, err := Requirements("train:1", &tandem.Environment{Image: "python:3.11", CondaFile: "./env/conda.yaml"}, files)
	if err != nil || !reflect.DeepEqual(s.Pip, []string{"numpy"}) {
		t.Fatalf("conda: %+v %v", s, err)
	}
	s, err = Requirements("train:1", &tandem.Environment{Image: "python:3.11", PipRequirements: "requirements.txt"}, files)
	if err != nil || !reflect.DeepEqual(s.Pip, []string{"six==1.16.0"}) {
		t.Fatalf("pip: %+v %v", s, err)
	}
	_, err = Requirements("train:1", &tandem.Environment{Image: "python:3.11", CondaFile: "missing.yaml"}, files)
	if tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), `"missing.yaml" is missing`) {
		t.Fatalf("missing file: %v", err)
	}
	for _, env := range []*tandem.Environment{{Image: "python:3.11"}, {Build: &tandem.BuildContext{Path: "docker"}}} {
		_, err = Requirements("serve:2", env, files)
		want := "environment serve:2 needs a container image; compute type local runs Python virtualenvs only"
		if tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), want) {
			t.Fatalf("image only: %v", err)
		}
	}
}
