package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const profileSchema = `
CREATE TABLE IF NOT EXISTS profiles (
	name    TEXT NOT NULL,    -- workload key (image:REPO, label:NAME=VALUE)
	version INTEGER NOT NULL, -- 0 while learning, then 1, 2, ... (every version is kept)
	state   TEXT NOT NULL,    -- learning | monitoring
	updated INTEGER NOT NULL, -- ns since the epoch
	seq     INTEGER NOT NULL, -- store-wide change counter (ProfilesSince)
	body    TEXT NOT NULL,    -- the profile's JSON document
	PRIMARY KEY (name, version)
);
CREATE INDEX IF NOT EXISTS profiles_seq ON profiles(seq);
`

// ErrNoProfile is returned when the profile (or version) asked for is not
// stored.
var ErrNoProfile = errors.New("no such profile")

// ProfileRow is one stored version of a workload profile; Body is its
// JSON document (package profile).
type ProfileRow struct {
	Name    string
	Version uint64
	State   string
	Updated time.Time
	Seq     int64
	Body    []byte
}

// SaveProfile stores a version of a profile (replacing that version if it
// is stored already: the learning version 0 is saved again as it grows).
func (s *Store) SaveProfile(ctx context.Context, r ProfileRow) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO profiles(name, version, state, updated, seq, body)
		VALUES(?, ?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM profiles), ?)
		ON CONFLICT(name, version) DO UPDATE SET state = excluded.state, updated = excluded.updated,
			seq = excluded.seq, body = excluded.body`,
		r.Name, int64(r.Version), r.State, r.Updated.UnixNano(), string(r.Body))
	if err != nil {
		return fmt.Errorf("store profile %s: %w", r.Name, err)
	}
	return nil
}

// Profile returns a stored version of a profile; version 0 with latest
// true is the newest.
func (s *Store) Profile(ctx context.Context, name string, version uint64, latest bool) (ProfileRow, error) {
	q := `SELECT name, version, state, updated, seq, body FROM profiles WHERE name = ? AND version = ?`
	args := []any{name, int64(version)}
	if latest {
		q = `SELECT name, version, state, updated, seq, body FROM profiles WHERE name = ? ORDER BY version DESC LIMIT 1`
		args = args[:1]
	}
	rows, err := s.profileRows(ctx, q, args...)
	if err != nil {
		return ProfileRow{}, err
	}
	if len(rows) == 0 {
		if latest {
			return ProfileRow{}, fmt.Errorf("%w: %s", ErrNoProfile, name)
		}
		return ProfileRow{}, fmt.Errorf("%w: %s version %d", ErrNoProfile, name, version)
	}
	return rows[0], nil
}

// Profiles returns the newest version of every profile, by name.
func (s *Store) Profiles(ctx context.Context) ([]ProfileRow, error) {
	return s.profileRows(ctx, `SELECT p.name, p.version, p.state, p.updated, p.seq, p.body FROM profiles p
		WHERE p.version = (SELECT max(version) FROM profiles WHERE name = p.name) ORDER BY p.name`)
}

// ProfileVersions returns every stored version of a profile, oldest
// first, without their bodies.
func (s *Store) ProfileVersions(ctx context.Context, name string) ([]ProfileRow, error) {
	return s.profileRows(ctx, `SELECT name, version, state, updated, seq, '' FROM profiles WHERE name = ? ORDER BY version`, name)
}

// ProfilesSince returns the profile versions written after the change
// counter seq (0: all), in write order: the agent polls it to put
// accepted, imported and merged profiles in force.
func (s *Store) ProfilesSince(ctx context.Context, seq int64) ([]ProfileRow, error) {
	return s.profileRows(ctx, `SELECT name, version, state, updated, seq, body FROM profiles WHERE seq > ? ORDER BY seq`, seq)
}

func (s *Store) profileRows(ctx context.Context, q string, args ...any) ([]ProfileRow, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store profiles: %w", err)
	}
	defer rows.Close()
	var out []ProfileRow
	for rows.Next() {
		var r ProfileRow
		var v, upd int64
		var body string
		if err := rows.Scan(&r.Name, &v, &r.State, &upd, &r.Seq, &body); err != nil {
			return nil, fmt.Errorf("store profiles: %w", err)
		}
		r.Version, r.Updated, r.Body = uint64(v), time.Unix(0, upd), []byte(body)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store profiles: %w", err)
	}
	return out, nil
}

// AlertBody returns the stored alert (its Falco JSON) with the given UUID, for
// `vigil profile accept UUID`.
func (s *Store) AlertBody(ctx context.Context, uuid string) ([]byte, error) {
	var body string
	err := s.db.QueryRowContext(ctx, "SELECT body FROM alerts WHERE uuid = ?", uuid).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: no alert %s", uuid)
	}
	if err != nil {
		return nil, fmt.Errorf("store: alert %s: %w", uuid, err)
	}
	return []byte(body), nil
}
