// Package bundle reads and writes tandem bundles: the self-describing unit
// that moves experiments, runs, models and assets between workspaces
// (tandem export / tandem import) and that a migration from a stock MLflow
// server produces.
//
// # Format (version 1)
//
// A bundle is either a folder or a single tar archive (plain .tar, or
// gzip-compressed .tar.gz / .tgz; readers tell them apart by the gzip magic
// bytes, not the name). Both hold the same files:
//
//	manifest.json                                  what the bundle holds
//	objects/<kind>/<escaped id>.json               one JSON record per object
//	blobs/<experiment_id>/<run_id>/artifacts/<path>             run artifact bytes
//	blobs/<experiment_id>/models/<model_id>/artifacts/<path>    logged model artifact bytes
//	blobs/assets/<kind>s/<name>/<version>/<path>                asset file bytes
//
// Blobs keep the readable layout of tandem's artifact storage, so a bundle
// folder (or an extracted archive) can be browsed with ordinary tools.
//
// In an archive, manifest.json is the first entry, and the items follow in
// exactly the order the manifest lists them; nothing else may appear. In a
// folder, manifest.json is written last: a folder without it is an export
// that did not finish and is refused.
//
// manifest.json is one JSON object:
//
//	{
//	  "format": "tandem-bundle",           // always this string
//	  "version": 1,                        // format version; readers refuse newer ones
//	  "workspace": "ml-prod",              // source workspace name (may be empty)
//	  "region": "eastus",                  // source region (may be empty)
//	  "source": "tandem",                  // "tandem", or "mlflow" for a migration
//	  "journal_position": {"epoch": 3, "seq": 1042},  // source journal head at export
//	  "created": "2026-11-26T21:00:00Z",
//	  "items": [
//	    {"kind": "experiment", "id": "1", "path": "objects/experiment/1.json",
//	     "sha256": "<64 hex>", "size": 311},
//	    {"kind": "blob", "id": "model/MLmodel", "owner": "run/<run_id>",
//	     "path": "blobs/1/<run_id>/artifacts/model/MLmodel", "sha256": "...", "size": 420},
//	    {"kind": "run", "id": "<run_id>", ...},
//	    ...
//	  ]
//	}
//
// Item kinds, in the order they appear (everything an object refers to comes
// before it): experiment, blob, run, logged_model, registered_model,
// model_version, asset. Item ids: the experiment id, the run id, the logged
// model id, the registered model name, "<name>/<version>" for a model
// version, "<asset kind>/<name>/<version>" for an asset; a blob's id is its
// path relative to its owner's artifact root and its owner is
// "run/<run_id>" or "logged_model/<model_id>", which must be in the bundle.
//
// Object records are JSON in the shapes of Experiment, Run, LoggedModel,
// RegisteredModel, ModelVersion and Asset. Field names follow the MLflow
// REST API; times are milliseconds since the Unix epoch; a run record holds
// every point of every metric history (key, value, timestamp, step), its
// params, tags, dataset inputs and the list of its artifact files with size
// and SHA-256. Metric values NaN and ±infinity are the strings "NaN",
// "Infinity", "-Infinity". Secrets are never written: asset specs carry
// datastore definitions without credentials.
//
// # Guarantees
//
// A reader checks the manifest (format, version, kinds, safe relative
// paths, unique ids and paths, well-formed digests, size limits, blob
// owners present) before anything else, and Verify checks every item's size
// and SHA-256 and, for an archive, that no entry is missing, extra, out of
// order or truncated. The importer verifies the whole bundle before it
// changes anything, so a truncated or tampered bundle is refused with a
// clear error and imports nothing.
//
// Writers stream: records and blobs go to disk as they are added and only
// the manifest's item list is held in memory. An archive is staged in a
// temporary folder beside it and renamed into place when complete.
package bundle
