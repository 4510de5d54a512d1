package pyenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assetyaml"
	"go.yaml.in/yaml/v3"
)

// Spec is what an environment asks of Python, in pip's terms: the pure
// result of reading its conda file or pip requirements.
type Spec struct {
	// Python is the conda file's python constraint ("3.11", ">=3.9,<3.13"),
	// empty when it names none.
	Python string
	// Pip are the requirement lines, normalised (see NormalizeRequirement),
	// sorted, without duplicates.
	Pip []string
	// Ignored are conda packages left out because they are conda's own
	// builds of system libraries that a virtualenv takes from the host or
	// from the wheels that need them.
	Ignored []string
}

// Requirements reads the pip requirements of env from its conda file or
// pip requirements file, whose bytes files holds by path. name is the
// environment's name for messages. An environment with neither (only an
// image or a build context) cannot run on local compute: EINVALID.
func Requirements(name string, env *tandem.Environment, files map[string][]byte) (*Spec, error) {
	var p string
	switch {
	case env.CondaFile != "":
		p = env.CondaFile
	case env.PipRequirements != "":
		p = env.PipRequirements
	default:
		return nil, tandem.Errorf(tandem.EINVALID,
			"environment %s needs a container image; compute type local runs Python virtualenvs only (give the environment a conda_file or pip_requirements)", name)
	}
	clean, err := tandem.CleanLocalPath(p)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "environment %s: %s", name, tandem.ErrorMessage(err))
	}
	data, ok := files[clean]
	if !ok {
		return nil, tandem.Errorf(tandem.EINVALID, "environment %s: its file %q is missing", name, clean)
	}
	if env.CondaFile != "" {
		return ParseConda(clean, data)
	}
	reqs, err := ParseRequirements(clean, data)
	if err != nil {
		return nil, err
	}
	return &Spec{Pip: reqs}, nil
}

// ParseConda reads a conda environment file: the python version, the
// conda packages (mapped to pip names, version specs translated) and the
// "- pip: [...]" list. file names it in errors (file:line:col).
func ParseConda(file string, data []byte) (*Spec, error) {
	root, err := assetyaml.OneDocument(file, data, "conda environment")
	if err != nil {
		return nil, err
	}
	errf := func(n *yaml.Node, format string, args ...any) error {
		return tandem.Errorf(tandem.EINVALID, "%s:%d:%d: %s", file, n.Line, n.Column, fmt.Sprintf(format, args...))
	}
	if root.Kind != yaml.MappingNode {
		return nil, errf(root, "a conda environment file is a mapping (name, channels, dependencies)")
	}
	var deps *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "dependencies" {
			deps = root.Content[i+1]
		}
	}
	spec := &Spec{Pip: []string{}}
	if deps == nil || deps.Tag == "!!null" {
		return spec, nil
	}
	if deps.Kind != yaml.SequenceNode {
		return nil, errf(deps, "dependencies must be a list")
	}
	var reqs []string
	for _, d := range deps.Content {
		switch {
		case d.Kind == yaml.ScalarNode && d.Tag != "!!null":
			name, req, err := condaToPip(d.Value)
			if err != nil {
				return nil, errf(d, "%s", err)
			}
			switch {
			case name == "python":
				spec.Python = strings.TrimPrefix(req, "python")
			case name == "pip" || name == "conda":
				// The virtualenv has its own pip.
			case condaOnly(name):
				spec.Ignored = append(spec.Ignored, name)
			default:
				reqs = append(reqs, req)
			}
		case d.Kind == yaml.MappingNode && len(d.Content) == 2 && d.Content[0].Value == "pip":
			list := d.Content[1]
			if list.Tag == "!!null" {
				continue
			}
			if list.Kind != yaml.SequenceNode {
				return nil, errf(list, "pip: must be a list of requirements")
			}
			for _, r := range list.Content {
				if r.Kind != yaml.ScalarNode {
					return nil, errf(r, "a pip requirement must be a string")
				}
				line, err := checkRequirement(r.Value)
				if err != nil {
					return nil, errf(r, "%s", err)
				}
				if line != "" {
					reqs = append(reqs, line)
				}
			}
		default:
			return nil, errf(d, "a dependency is a conda package (\"numpy=1.26\") or a pip list (\"pip: [...]\")")
		}
	}
	spec.Pip = normalizeAll(reqs)
	sort.Strings(spec.Ignored)
	return spec, nil
}

// ParseRequirements reads a pip requirements file: one requirement or
// option per line, '#' comments, '\' continuations.
func ParseRequirements(file string, data []byte) ([]string, error) {
	var reqs []string
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := lines[i]
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, `\`) + lines[i]
		}
		if j := commentAt(line); j >= 0 {
			line = line[:j]
		}
		r, err := checkRequirement(line)
		if err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "%s:%d: %s", file, lineNo, err)
		}
		if r != "" {
			reqs = append(reqs, r)
		}
	}
	return normalizeAll(reqs), nil
}

// commentAt finds a '#' that starts a comment: at the start of the line or
// after whitespace (a '#' inside a URL fragment is not one).
func commentAt(line string) int {
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			return i
		}
	}
	return -1
}

// Pip options that point at other files: the environment's files are not
// laid out for pip, so they are refused rather than half-followed.
var fileOptions = []string{"-r", "--requirement", "-c", "--constraint", "-e", "--editable"}

// checkRequirement trims a requirement line and refuses what cannot work
// in a cached environment: references to other files and local paths.
func checkRequirement(line string) (string, error) {
	line = strings.Join(strings.Fields(line), " ")
	if line == "" {
		return "", nil
	}
	for _, o := range fileOptions {
		if line == o || strings.HasPrefix(line, o+" ") || strings.HasPrefix(line, o+"=") ||
			(len(o) == 2 && strings.HasPrefix(line, o) && !strings.HasPrefix(line, "--")) {
			return "", fmt.Errorf("%q refers to another file or a local project; list the packages themselves", line)
		}
	}
	if strings.HasPrefix(line, ".") || strings.HasPrefix(line, "/") || strings.HasPrefix(line, "file:") {
		return "", fmt.Errorf("%q is a local path; a local environment installs packages from an index or a URL", line)
	}
	return line, nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*`)

// condaNameRE also takes conda's '_'-led names (_libgcc_mutex).
var condaNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*`)
var separatorsRE = regexp.MustCompile(`[-_.]+`)

// canonicalName is a package name in PEP 503's normal form.
func canonicalName(n string) string {
	return separatorsRE.ReplaceAllString(strings.ToLower(n), "-")
}

// NormalizeRequirement writes equal requirements the same way, for the
// digest: the package name in normal form, no spaces in the version part,
// single spaces elsewhere (an environment marker, an option, a URL).
func NormalizeRequirement(line string) string {
	line = strings.Join(strings.Fields(line), " ")
	if strings.HasPrefix(line, "-") {
		return line
	}
	name := nameRE.FindString(line)
	if name == "" {
		return line
	}
	rest := line[len(name):]
	if strings.Contains(rest, "@") {
		return canonicalName(name) + rest
	}
	marker := ""
	if i := strings.Index(rest, ";"); i >= 0 {
		rest, marker = rest[:i], "; "+strings.TrimSpace(rest[i+1:])
	}
	return canonicalName(name) + strings.ReplaceAll(rest, " ", "") + marker
}

func normalizeAll(reqs []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, r := range reqs {
		n := NormalizeRequirement(r)
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// pipName is the pip package of a conda package whose name differs.
func pipName(conda string) string {
	switch conda {
	case "pytorch", "pytorch-cpu", "pytorch-gpu":
		return "torch"
	case "py-xgboost", "py-xgboost-cpu", "py-xgboost-gpu":
		return "xgboost"
	case "matplotlib-base":
		return "matplotlib"
	case "msgpack-python":
		return "msgpack"
	case "python-graphviz":
		return "graphviz"
	case "pytables":
		return "tables"
	case "py-opencv", "opencv":
		return "opencv-python"
	case "tensorflow-base":
		return "tensorflow"
	case "pyqt":
		return "pyqt5"
	}
	return conda
}

// condaOnlyNames are conda's builds of system libraries and runtimes (what
// `conda env export` lists besides the Python packages). pip has no such
// packages, or one that is something else, so they are left out.
const condaOnlyNames = `_libgcc_mutex _openmp_mutex arrow-cpp blas bzip2 c-ares ca-certificates
	cuda-cudart cuda-nvcc cuda-runtime cuda-version cudatoolkit cudnn expat gettext icu intel-openmp
	keyutils krb5 ld_impl_linux-64 libabseil libarrow libblas libcblas libcurl libedit libexpat libffi
	libgcc libgcc-ng libgfortran libgfortran-ng libgfortran5 libgomp libiconv liblapack liblzma
	libmpdec libnghttp2 libnsl libopenblas libprotobuf libsqlite libssh2 libstdcxx libstdcxx-ng
	libuuid libxcrypt libxml2 libzlib llvm-openmp lz4-c nccl ncurses openblas openssl pcre2
	python_abi readline sqlite tk tzdata xz yaml zlib zstd`

func condaOnly(name string) bool {
	for _, n := range strings.Fields(condaOnlyNames) {
		if n == name {
			return true
		}
	}
	return false
}

// condaToPip turns one conda match spec ("conda-forge::numpy=1.26=py311h0",
// "scikit-learn>=1.3", "pandas 2.1.*") into a pip requirement, and returns
// the package's (pip) name too.
func condaToPip(s string) (name, req string, err error) {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "::"); i >= 0 {
		s = s[i+2:]
	}
	n := condaNameRE.FindString(s)
	if n == "" {
		return "", "", fmt.Errorf("%q is not a conda package spec", s)
	}
	rest := strings.TrimSpace(s[len(n):])
	if strings.ContainsAny(rest, "[|") {
		return "", "", fmt.Errorf("conda spec %q: bracket and '|' forms have no pip equivalent; write name=version or name>=version", s)
	}
	name = pipName(strings.ToLower(n))
	version := ""
	switch {
	case rest == "":
	case strings.HasPrefix(rest, "=") && !strings.HasPrefix(rest, "=="):
		// name=1.26 (1.26.*), name=1.26.4=build (exactly 1.26.4).
		v, build, hasBuild := strings.Cut(rest[1:], "=")
		_ = build
		version = fuzzy(v, hasBuild)
	case strings.ContainsAny(rest[:1], "<>=!~"):
		version = strings.ReplaceAll(rest, " ", "")
	default:
		// name 1.26 [build]
		f := strings.Fields(rest)
		if strings.ContainsAny(f[0][:1], "<>=!~") {
			version = f[0]
		} else {
			version = fuzzy(f[0], len(f) > 1)
		}
	}
	return name, name + version, nil
}

// fuzzy translates conda's version match (1.26 = 1.26.*) into pip's.
func fuzzy(v string, exact bool) string {
	v = strings.TrimSpace(v)
	switch {
	case v == "" || v == "*":
		return ""
	case exact || strings.HasSuffix(v, "*"):
		return "==" + v
	default:
		return "==" + v + ".*"
	}
}

// Digest identifies the virtualenv that Spec builds on a base Python of
// version pythonVersion: equal requirement lists give equal digests.
func (s *Spec) Digest(pythonVersion string) string {
	h := sha256.New()
	fmt.Fprintf(h, "tandem pyenv 1\npython %s\n", pythonVersion)
	for _, r := range s.Pip {
		fmt.Fprintf(h, "%s\n", r)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CheckPython reports whether a base Python of version have ("3.11.7")
// meets the spec's python constraint, compared on major.minor.
func (s *Spec) CheckPython(have string) error {
	if s.Python == "" {
		return nil
	}
	hv, ok := majorMinor(have)
	if !ok {
		return fmt.Errorf("cannot read python version %q", have)
	}
	for _, c := range strings.Split(s.Python, ",") {
		c = strings.TrimSpace(c)
		op := strings.TrimRight(c[:len(c)-len(strings.TrimLeft(c, "<>=!~"))], " ")
		v := strings.TrimSpace(c[len(op):])
		v = strings.TrimSuffix(strings.TrimSuffix(v, "*"), ".")
		if i := strings.IndexAny(v, " ="); i >= 0 { // a build string
			v = v[:i]
		}
		if v == "" {
			continue
		}
		want, ok := majorMinor(v)
		if !ok {
			return fmt.Errorf("cannot read the python version in %q", s.Python)
		}
		cmp := compare(hv, want)
		majorOnly := !strings.Contains(v, ".") // python=3 is any 3.x, as conda reads it
		var met bool
		switch op {
		case "", "=", "==", "~=":
			met = cmp == 0 || (op == "~=" && cmp > 0 && hv[0] == want[0]) || (majorOnly && hv[0] == want[0])
		case ">=":
			met = cmp >= 0
		case ">":
			met = cmp > 0
		case "<=":
			met = cmp <= 0
		case "<":
			met = cmp < 0
		case "!=":
			met = cmp != 0
		default:
			return fmt.Errorf("cannot read the python constraint %q", s.Python)
		}
		if !met {
			return fmt.Errorf("the environment asks for python %s and this host's python is %s", s.Python, have)
		}
	}
	return nil
}

// majorMinor reads "3.11.7" or "3.11" or "3" as [major, minor].
func majorMinor(v string) ([2]int, bool) {
	parts := strings.Split(v, ".")
	var out [2]int
	for i := 0; i < 2 && i < len(parts); i++ {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return out, false
		}
		out[i] = n
	}
	return out, parts[0] != ""
}

func compare(a, b [2]int) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}
