package fleet

import (
	"context"
	"encoding/base64"
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// ProfileKey is the key of a workload's merged profile in ProfilesBucket:
// the workload key ("image:docker.io/library/nginx") in unpadded
// URL-safe base64, since a bucket key may not hold ':'.
func ProfileKey(name string) string { return base64.RawURLEncoding.EncodeToString([]byte(name)) }

// watchProfiles follows the hub's merged profiles and hands each to
// Options.ApplyProfile (every one at the start, then each change).
func (c *Client) watchProfiles(ctx context.Context) {
	if c.opts.ApplyProfile == nil {
		return
	}
	c.keepWatching(ctx, "profiles watch", c.watchProfilesOnce)
}

func (c *Client) watchProfilesOnce(ctx context.Context) error {
	kv, err := c.js.KeyValue(ctx, ProfilesBucket)
	if err != nil {
		return err
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch ended")
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			c.opts.ApplyProfile(e.Value())
		}
	}
}
