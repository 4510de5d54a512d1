package mlflowapi

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/tandemml/tandem"
)

// The MLflow JSON shapes of tracking entities. Like MLflow's server
// (protobuf JSON), empty lists and unset optional fields are left out, and
// NaN metric values are written as the string "NaN".

type jsonTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func jsonTags(ts []tandem.Tag) []jsonTag {
	if len(ts) == 0 {
		return nil
	}
	out := make([]jsonTag, len(ts))
	for i, t := range ts {
		out[i] = jsonTag(t)
	}
	return out
}

type jsonExperiment struct {
	ExperimentID     string    `json:"experiment_id"`
	Name             string    `json:"name"`
	ArtifactLocation string    `json:"artifact_location"`
	LifecycleStage   string    `json:"lifecycle_stage"`
	LastUpdateTime   int64     `json:"last_update_time"`
	CreationTime     int64     `json:"creation_time"`
	Tags             []jsonTag `json:"tags,omitempty"`
}

func toJSONExperiment(e *tandem.Experiment) jsonExperiment {
	return jsonExperiment{ExperimentID: e.ExperimentID, Name: e.Name, ArtifactLocation: e.ArtifactLocation,
		LifecycleStage: e.LifecycleStage, LastUpdateTime: e.LastUpdateTime, CreationTime: e.CreationTime, Tags: jsonTags(e.Tags)}
}

// metricValue writes a float as protobuf JSON does: "NaN", "Infinity" and
// "-Infinity" as strings.
type metricValue float64

func (v metricValue) MarshalJSON() ([]byte, error) {
	f := float64(v)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Infinity"`), nil
	}
	return []byte(strconv.FormatFloat(f, 'g', -1, 64)), nil
}

type jsonMetric struct {
	Key       string      `json:"key"`
	Value     metricValue `json:"value"`
	Timestamp int64       `json:"timestamp"`
	Step      int64       `json:"step"`
	RunID     string      `json:"run_id,omitempty"`
}

func jsonMetrics(ms []tandem.Metric) []jsonMetric {
	if len(ms) == 0 {
		return nil
	}
	out := make([]jsonMetric, len(ms))
	for i, m := range ms {
		out[i] = jsonMetric{Key: m.Key, Value: metricValue(m.Value), Timestamp: m.Timestamp, Step: m.Step}
	}
	return out
}

func jsonMetricsWithRun(ms []tandem.MetricWithRun) []jsonMetric {
	if len(ms) == 0 {
		return nil
	}
	out := make([]jsonMetric, len(ms))
	for i, m := range ms {
		out[i] = jsonMetric{Key: m.Key, Value: metricValue(m.Value), Timestamp: m.Timestamp, Step: m.Step, RunID: m.RunID}
	}
	return out
}

type jsonRunInfo struct {
	RunUUID        string `json:"run_uuid"`
	ExperimentID   string `json:"experiment_id"`
	RunName        string `json:"run_name"`
	UserID         string `json:"user_id"`
	Status         string `json:"status"`
	StartTime      int64  `json:"start_time"`
	EndTime        *int64 `json:"end_time,omitempty"`
	ArtifactURI    string `json:"artifact_uri"`
	LifecycleStage string `json:"lifecycle_stage"`
	RunID          string `json:"run_id"`
}

func toJSONRunInfo(i tandem.RunInfo) jsonRunInfo {
	return jsonRunInfo{RunUUID: i.RunID, ExperimentID: i.ExperimentID, RunName: i.RunName, UserID: i.UserID,
		Status: i.Status, StartTime: i.StartTime, EndTime: i.EndTime, ArtifactURI: i.ArtifactURI,
		LifecycleStage: i.LifecycleStage, RunID: i.RunID}
}

type jsonParam struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type jsonRunData struct {
	Metrics []jsonMetric `json:"metrics,omitempty"`
	Params  []jsonParam  `json:"params,omitempty"`
	Tags    []jsonTag    `json:"tags,omitempty"`
}

type jsonDataset struct {
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	SourceType string `json:"source_type"`
	Source     string `json:"source"`
	Schema     string `json:"schema,omitempty"`
	Profile    string `json:"profile,omitempty"`
}

type jsonDatasetInput struct {
	Tags    []jsonTag   `json:"tags,omitempty"`
	Dataset jsonDataset `json:"dataset"`
}

type jsonModelIO struct {
	ModelID string `json:"model_id"`
	Step    *int64 `json:"step,omitempty"`
}

type jsonRunInputs struct {
	DatasetInputs []jsonDatasetInput `json:"dataset_inputs,omitempty"`
	ModelInputs   []jsonModelIO      `json:"model_inputs,omitempty"`
}

type jsonRunOutputs struct {
	ModelOutputs []jsonModelIO `json:"model_outputs,omitempty"`
}

type jsonRun struct {
	Info    jsonRunInfo    `json:"info"`
	Data    jsonRunData    `json:"data"`
	Inputs  jsonRunInputs  `json:"inputs"`
	Outputs jsonRunOutputs `json:"outputs"`
}

func jsonModels(ms []tandem.ModelIO) []jsonModelIO {
	if len(ms) == 0 {
		return nil
	}
	out := make([]jsonModelIO, len(ms))
	for i, m := range ms {
		out[i] = jsonModelIO(m)
	}
	return out
}

func toJSONRun(r *tandem.Run) jsonRun {
	out := jsonRun{Info: toJSONRunInfo(r.Info)}
	out.Data.Metrics = jsonMetrics(r.Metrics)
	for _, p := range r.Params {
		out.Data.Params = append(out.Data.Params, jsonParam(p))
	}
	out.Data.Tags = jsonTags(r.Tags)
	for _, d := range r.Inputs {
		out.Inputs.DatasetInputs = append(out.Inputs.DatasetInputs, jsonDatasetInput{Tags: jsonTags(d.Tags), Dataset: jsonDataset(d.Dataset)})
	}
	out.Inputs.ModelInputs = jsonModels(r.ModelIn)
	out.Outputs.ModelOutputs = jsonModels(r.Outputs)
	return out
}

// Request element types.

type reqTag struct {
	Key   *string `json:"key"`
	Value *string `json:"value"`
}

type reqMetric struct {
	Key           *string     `json:"key"`
	Value         metricInput `json:"value"`
	Timestamp     Int64       `json:"timestamp"`
	Step          Int64       `json:"step"`
	ModelID       string      `json:"model_id"`
	DatasetName   string      `json:"dataset_name"`
	DatasetDigest string      `json:"dataset_digest"`
}

type reqDatasetInput struct {
	Tags    []reqTag `json:"tags"`
	Dataset *struct {
		Name       string `json:"name"`
		Digest     string `json:"digest"`
		SourceType string `json:"source_type"`
		Source     string `json:"source"`
		Schema     string `json:"schema"`
		Profile    string `json:"profile"`
	} `json:"dataset"`
}

type reqModelIO struct {
	ModelID string `json:"model_id"`
	Step    Int64  `json:"step"`
}

func (m reqModelIO) model() tandem.ModelIO {
	out := tandem.ModelIO{ModelID: m.ModelID}
	if m.Step.Set {
		v := m.Step.V
		out.Step = &v
	}
	return out
}

// metricInput is a metric value in a request: what Float64 accepts, and
// true/false as 1/0, as MLflow's server does.
type metricInput struct{ Float64 }

func (m *metricInput) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		m.V, m.Set = 1, true
		return nil
	case "false":
		m.V, m.Set = 0, true
		return nil
	}
	return m.Float64.UnmarshalJSON(b)
}

var _ = json.Marshal
