// Package secrets finds credentials written where they should not be: in
// image layers (every layer, so a file a later layer deletes is still
// found), root filesystems, image config environments, Kubernetes manifest
// values and running containers' environments.
//
// Detection is driven by rules (Ruleset): a regular expression with the
// secret in a capture group, keywords that must appear nearby (a
// case-insensitive prefilter that keeps scanning near the speed of reading),
// an optional minimum Shannon entropy of the secret, and whether the rule is
// generic (a key=value shape whose value must also not look like a path, a
// template or a placeholder). The built-in rules (default.yaml, embedded)
// cover PEM and OpenSSH private keys, AWS, GCP and Azure keys, GitHub and
// Slack tokens, JWTs, bearer tokens, passwords in URLs and generic secret
// assignments; users add rules and allow-list entries with the same file
// format (ParseRules, Ruleset.Merge; docs/images.md documents it).
//
// A Finding carries where (layer, path, line, column) and a redacted
// preview of the line; it never holds the secret itself: the scanner keeps
// at most a 4-character prefix of it. Scanners are safe for concurrent use.
package secrets
