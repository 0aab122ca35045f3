package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigilsec/vigil/internal/fleet"
)

// HubIdentity is the certificate common name of the hub's own NATS
// connection: the one identity with every permission.
const HubIdentity = "vigil-hub"

// NATSOptions configure the embedded NATS server.
type NATSOptions struct {
	// Name of this server (unique in a cluster).
	Name string
	// Listen is host:port of the client port.
	Listen string
	// StoreDir holds JetStream's files.
	StoreDir string
	// TLS, when set, makes every client connection mutual TLS: clients
	// present a certificate of the CA (ClientCAs) and are identified by
	// its common name: HubIdentity may do anything, any other name N is
	// node N and may publish only on N's subjects (see nodePermissions).
	TLS *tls.Config
	// Cluster, when ClusterListen is set: the route port of this server
	// and the routes to the others (nats://host:port).
	ClusterName   string
	ClusterListen string
	Routes        []string
}

// StartNATS starts an embedded NATS server with JetStream and waits until
// it accepts connections.
func StartNATS(o NATSOptions) (*server.Server, error) {
	host, port, err := splitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("hub: nats listen: %w", err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	so := &server.Options{ServerName: o.Name, Host: host, Port: port, JetStream: true, StoreDir: o.StoreDir,
		NoSigs: true, NoLog: true, MaxPayload: 8 << 20}
	if o.TLS != nil {
		so.TLSConfig = o.TLS
		so.TLSVerify = true
		so.TLSTimeout = 5
		so.CustomClientAuthentication = certAuth{}
	}
	if o.ClusterListen != "" {
		ch, cp, err := splitHostPort(o.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("hub: nats cluster listen: %w", err)
		}
		if cp == 0 {
			cp = server.RANDOM_PORT
		}
		so.Cluster = server.ClusterOpts{Name: o.ClusterName, Host: ch, Port: cp}
		if o.TLS != nil {
			so.Cluster.TLSConfig = o.TLS
			so.Cluster.TLSTimeout = 5
		}
		for _, r := range o.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("hub: nats route %q: %w", r, err)
			}
			so.Routes = append(so.Routes, u)
		}
	}
	s, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("hub: nats: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("hub: nats: not ready within 10s")
	}
	return s, nil
}

func splitHostPort(hp string) (string, int, error) {
	i := strings.LastIndexByte(hp, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("%q: want host:port", hp)
	}
	var port int
	if _, err := fmt.Sscan(hp[i+1:], &port); err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: bad port", hp)
	}
	return strings.Trim(hp[:i], "[]"), port, nil
}

// certAuth admits a client whose verified certificate names it: the hub,
// or a node with its node permissions.
type certAuth struct{}

func (certAuth) Check(c server.ClientAuthentication) bool {
	cs := c.GetTLSConnectionState()
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
		return false
	}
	cn := cs.PeerCertificates[0].Subject.CommonName
	if cn == HubIdentity {
		c.RegisterUser(&server.User{Username: cn})
		return true
	}
	if cn == "" || fleet.NodeName(cn) != cn {
		return false
	}
	c.RegisterUser(&server.User{Username: cn, Permissions: nodePermissions(cn)})
	return true
}

// nodePermissions let node publish on its own subjects (alerts,
// heartbeats, acknowledgements, profiles) and read the rules and profiles
// buckets; replies come to its own inbox prefix (fleet.InboxPrefix).
func nodePermissions(node string) *server.Permissions {
	pub := append(fleet.NodeSubjects(node), "$JS.API.INFO")
	for _, bucket := range []string{fleet.RulesBucket, fleet.ProfilesBucket} {
		kv := "KV_" + bucket
		pub = append(pub, "$JS.API.STREAM.INFO."+kv,
			"$JS.API.CONSUMER.CREATE."+kv, "$JS.API.CONSUMER.CREATE."+kv+".>",
			"$JS.API.CONSUMER.DELETE."+kv+".>", "$JS.API.CONSUMER.INFO."+kv+".>",
			"$JS.API.DIRECT.GET."+kv+".>", "$JS.API.STREAM.MSG.GET."+kv,
			"$JS.FC."+kv+".>", "$JS.ACK."+kv+".>")
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: pub},
		Subscribe: &server.SubjectPermission{Allow: []string{fleet.InboxPrefix(node) + ".>"}},
	}
}

// StreamOptions shape the stream and bucket the hub creates.
type StreamOptions struct {
	// Replicas of the stream and bucket (1, or 3 on a three-server
	// cluster).
	Replicas int
	// MaxAge of stream messages (the hub has stored them long before);
	// 0 means 7 days.
	MaxAge time.Duration
	// Duplicates is the window in which a message id seen before is
	// dropped; 0 means 1 hour.
	Duplicates time.Duration
	// AckWait is how long a message the hub took but did not acknowledge
	// (a hub that died mid-batch) waits before it is delivered again; 0
	// means 10s.
	AckWait time.Duration
}

// ensureStream creates (or updates) the stream, the hub's durable
// consumer and the rules bucket.
func ensureStream(ctx context.Context, js jetstream.JetStream, o StreamOptions) (jetstream.Consumer, jetstream.KeyValue, error) {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 7 * 24 * time.Hour
	}
	if o.AckWait <= 0 {
		o.AckWait = 10 * time.Second
	}
	if o.Duplicates <= 0 {
		o.Duplicates = time.Hour
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: fleet.Stream, Subjects: fleet.StreamSubjects,
		Storage: jetstream.FileStorage, Replicas: o.Replicas, MaxAge: o.MaxAge, Duplicates: o.Duplicates})
	if err != nil {
		return nil, nil, fmt.Errorf("hub: stream: %w", err)
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "hub", AckPolicy: jetstream.AckAllPolicy,
		AckWait: o.AckWait, MaxAckPending: maxAckPending, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return nil, nil, fmt.Errorf("hub: consumer: %w", err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: fleet.RulesBucket, History: 64,
		Replicas: o.Replicas, Storage: jetstream.FileStorage})
	if err != nil {
		return nil, nil, fmt.Errorf("hub: rules bucket: %w", err)
	}
	return cons, kv, nil
}
