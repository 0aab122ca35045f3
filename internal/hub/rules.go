package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vigilsec/vigil/internal/fleet"
)

// Push makes files the next bundle version: recorded in the store, then
// put in the rules bucket, which every node watches. rollbackOf names the
// version restored (0: none).
func (h *Hub) Push(ctx context.Context, files []fleet.BundleFile, rollbackOf uint64) (*fleet.Bundle, error) {
	if err := fleet.CheckBundleFiles(files); err != nil {
		return nil, err
	}
	h.pushMu.Lock()
	defer h.pushMu.Unlock()
	bs, err := h.store.Bundles(ctx)
	if err != nil {
		return nil, err
	}
	var v uint64 = 1
	if len(bs) > 0 {
		v = bs[0].Version + 1
	}
	b := &fleet.Bundle{Version: v, Time: time.Now().UTC(), RollbackOf: rollbackOf, Files: files}
	if err := h.store.AddBundle(ctx, b); err != nil {
		return nil, err
	}
	data, _ := json.Marshal(b)
	if _, err := h.kv.Put(ctx, fleet.RulesKey, data); err != nil {
		return nil, fmt.Errorf("hub: push rules: %w", err)
	}
	h.log.Info("rules pushed", "version", v, "files", len(files), "rollback_of", rollbackOf)
	return b, nil
}

// Rollback pushes the files of version to again, as a new version (nodes
// apply only newer versions).
func (h *Hub) Rollback(ctx context.Context, to uint64) (*fleet.Bundle, error) {
	old, err := h.store.Bundle(ctx, to)
	if err != nil {
		return nil, err
	}
	return h.Push(ctx, old.Files, to)
}
