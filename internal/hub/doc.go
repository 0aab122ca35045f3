// Package hub is the fleet's server side (`vigil hub`): NATS JetStream
// (an embedded server by default, or an external cluster), the durable
// consumer that moves what agents publish into a Store, the HTTP API, and
// rule distribution.
//
// The stream VIGIL (fleet.StreamSubjects) holds alerts, incidents,
// heartbeats, rule acknowledgements and learned profiles (each node's
// newest kept per workload; MergedProfiles and GET /api/profiles serve
// their merge, profile.Merge); the durable pull consumer "hub" takes them in
// batches, stores a batch in one transaction and only then acknowledges
// it (AckAll), so a hub stopped or killed at any point gets the rest
// again, and the store drops what it has already by alert UUID: every
// alert is stored exactly once. A hub that starts with messages pending
// (delivered to a hub killed before it acknowledged them) acknowledges
// nothing until those come again and are stored, since acknowledging a
// newer one would acknowledge them too (AckAll); so does a running hub that
// sees a gap in the stream sequences it receives (a delivery lost on its
// way, as when a NATS server dies mid-fetch). The node of a message is its subject's,
// which with mutual TLS only that node may publish on: StartNATS with TLS
// identifies each client by its certificate's common name (HubIdentity
// may do anything; node N may publish only on N's subjects and read only
// its own inbox and the rules bucket).
//
// Store has one SQL implementation in two dialects (store.SQLite,
// store.Postgres: modernc.org/sqlite, the default, and pgx), with numbered
// migrations; both pass the same tests. Its statements on incidents,
// reports and rule hits are the agent's store's (internal/store,
// sqlshared.go), on tables with the same columns. Rule bundles are versioned in
// the store and put in the key-value bucket fleet.RulesBucket; a rollback
// pushes an old version's files as a new version; nodes' answers
// (fleet.Ack) are stored per node and version. The web console
// (internal/console) is mounted at /console/ over the same store
// (console.go: consoleSource), with the API's two tokens. GenerateCerts
// makes the CA and certificates of a first deployment (`vigil hub certs`);
// Options.UseTLS makes the hub's TLS from them. Config is `vigil hub`'s
// configuration (its flags and the file of --config, read by
// config.DecodeYAML with positioned errors); Config.Options checks it and
// makes the Options.
//
// Ownership: New opens the store and NATS; Run serves until its context
// ends; Close releases the connection, the embedded server and the store.
package hub
