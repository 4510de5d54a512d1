package sqlstore

import (
	"strings"

	"github.com/tandemml/tandem"
)

// MLflow's prompt registry is the model registry: a prompt is a registered
// model, and each prompt version a model version, tagged
// mlflow.prompt.is_prompt = true, whose template is in a tag. Its source
// names no artifacts: it is one of MLflow's placeholders, and the checks
// that a source lies in a run or a logged model do not apply.

// promptSources are the sources MLflow's client and store give a prompt
// version.
var promptSources = []string{"dummy-source", "prompt-template"}

// isPromptVersion reports whether a version's tags make it a prompt, as
// MLflow's server decides: the last value of the tag, "true" in any case.
func isPromptVersion(tags []tandem.Tag) bool {
	v := "false"
	for _, t := range tags {
		if t.Key == tagIsPrompt {
			v = t.Value
		}
	}
	return strings.EqualFold(v, "true")
}

// validatePromptSource refuses a prompt version whose source is not one of
// MLflow's placeholders (EINVALID).
func validatePromptSource(source string) error {
	for _, p := range promptSources {
		if source == p {
			return nil
		}
	}
	return tandem.Errorf(tandem.EINVALID, "Invalid prompt source: '%s'. Prompt sources must use an MLflow placeholder.", source)
}
