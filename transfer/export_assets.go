package transfer

import (
	"context"
	"fmt"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/transfer/bundle"
)

// exportAssets writes the selected assets (every one with sel.All), each
// after its files and, for a data asset on a datastore, after that
// datastore's definition. Credentials are never written.
func (ex *Exporter) exportAssets(ctx context.Context, x *exportState, sel Selection) error {
	if sel.All {
		ids, err := sqlstore.TransferAssetIDs(ctx, x.q)
		if err != nil {
			return err
		}
		for _, id := range ids {
			parts := strings.SplitN(id, "/", 3)
			ref := AssetRef{Kind: tandem.AssetKind(parts[0]), Name: parts[1]}
			if len(parts) == 3 {
				ref.Version = parts[2]
			}
			if err := ex.exportAsset(ctx, x, ref, true); err != nil {
				return err
			}
		}
	}
	for _, ref := range sel.Assets {
		if err := ex.exportAsset(ctx, x, ref, false); err != nil {
			return err
		}
	}
	return nil
}

func (ex *Exporter) exportAsset(ctx context.Context, x *exportState, ref AssetRef, exact bool) error {
	version := ref.Version
	if !ref.Kind.Versioned() {
		version = ""
	} else if version == "" && exact {
		return tandem.Errorf(tandem.EINTERNAL, "export %s %s: no version", ref.Kind, ref.Name)
	}
	rec, ok, err := sqlstore.TransferAsset(ctx, x.q, ref.Kind, ref.Name, version)
	if err != nil {
		return err
	}
	if !ok {
		if version == "" || version == "latest" {
			return tandem.Errorf(tandem.ENOTFOUND, "%s %q not found (or every version is archived: name one)", ref.Kind, ref.Name)
		}
		return tandem.Errorf(tandem.ENOTFOUND, "%s %q version %s not found", ref.Kind, ref.Name, version)
	}
	id := rec.ID()
	if x.assets[id] {
		return nil
	}
	if ref.Kind == tandem.AssetData {
		if ds := datastoreOf(rec); ds != "" && !x.assets[bundle.AssetID(string(tandem.AssetDatastore), ds, "")] {
			if _, there, err := sqlstore.TransferAsset(ctx, x.q, tandem.AssetDatastore, ds, ""); err != nil {
				return err
			} else if there {
				if err := ex.exportAsset(ctx, x, AssetRef{Kind: tandem.AssetDatastore, Name: ds}, true); err != nil {
					return err
				}
			}
		}
	}
	a := tandem.Asset{Kind: ref.Kind, Name: rec.Name, Version: rec.Version}
	if err := ex.copyBlobs(ctx, x, "asset/"+id, a.StoragePrefix(), rec.Files); err != nil {
		return fmt.Errorf("export %s: %w", id, err)
	}
	if _, err := x.w.AddObject(bundle.KindAsset, id, rec); err != nil {
		return err
	}
	x.assets[id] = true
	x.st.Assets++
	return nil
}

// datastoreOf returns the datastore a data asset's path points into
// (tandem://datastores/NAME/...), or "".
func datastoreOf(rec bundle.Asset) string {
	a, err := sqlstore.AssetFromRecord(rec)
	if err != nil {
		return ""
	}
	d, ok := a.Spec.(*tandem.Data)
	if !ok {
		return ""
	}
	rest, ok := strings.CutPrefix(d.Path, "tandem://datastores/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}
