package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/progress"
	"github.com/vigilsec/vigil/internal/termtext"
)

// Every command's diagnostics on standard error follow two global flags:
// -q/--quiet (no progress line, no notes; warnings and errors stay) and
// --log-format text|json (json: each warning and note, and `vigil run`'s
// logs, is one JSON object per line, as log/slog writes it, and no
// progress line is drawn).
const (
	flagQuiet     = "quiet"
	flagLogFormat = "log-format"
)

func addDiagFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.BoolP(flagQuiet, "q", false, "no progress line and no notes on standard error (warnings and errors stay)")
	pf.String(flagLogFormat, "text", "format of warnings, notes and logs on standard error: text or json (one JSON object per line)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		switch f := logFormat(cmd); f {
		case "text", "json":
			return nil
		default:
			return fmt.Errorf("--log-format: unknown format %q (want text or json)", f)
		}
	}
}

func quiet(cmd *cobra.Command) bool {
	f := cmd.Flag(flagQuiet)
	return f != nil && f.Value.String() == "true"
}

func logFormat(cmd *cobra.Command) string {
	if f := cmd.Flag(flagLogFormat); f != nil {
		return f.Value.String()
	}
	return "text"
}

// cliLogger is the logger of a command's diagnostics: JSON records with
// --log-format json, else plain "warning: MSG" and "note: MSG" lines
// (control characters escaped).
func cliLogger(cmd *cobra.Command, level slog.Level) *slog.Logger {
	w := cmd.ErrOrStderr()
	if logFormat(cmd) == "json" {
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
	}
	return slog.New(&plainHandler{w: w, level: level})
}

// agentLogger is `vigil run`'s logger: log_level, and log_format (or
// --log-format) text or json, on standard error around the start-up
// progress line.
func agentLogger(cmd *cobra.Command, cfg *config.Config, bar *progress.Bar) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	o := &slog.HandlerOptions{Level: lvl}
	w := bar.Wrap(cmd.ErrOrStderr())
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// warn writes a warning (always, -q or not).
func warn(cmd *cobra.Command, msg string, args ...any) {
	cliLogger(cmd, slog.LevelWarn).Warn(msg, args...)
}

// note writes a note, unless -q.
func note(cmd *cobra.Command, msg string, args ...any) {
	if quiet(cmd) {
		return
	}
	cliLogger(cmd, slog.LevelInfo).Info(msg, args...)
}

// startProgress starts a progress line on standard error when it is a
// terminal, without -q and with text logs; else it returns nil (no-op).
func startProgress(cmd *cobra.Command, label string) *progress.Bar {
	w := cmd.ErrOrStderr()
	return progress.Start(w, label, !quiet(cmd) && logFormat(cmd) == "text" && progress.IsTerminal(w))
}

// plainHandler writes "warning: MSG key=value ..." lines for people.
type plainHandler struct {
	w     io.Writer
	level slog.Level
	attrs []slog.Attr
}

func (h *plainHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *plainHandler) Handle(_ context.Context, r slog.Record) error {
	prefix := "note"
	switch {
	case r.Level >= slog.LevelError:
		prefix = "error"
	case r.Level >= slog.LevelWarn:
		prefix = "warning"
	case r.Level < slog.LevelInfo:
		prefix = "debug"
	}
	line := prefix + ": " + termtext.String(r.Message)
	add := func(a slog.Attr) bool {
		line += " " + a.Key + "=" + termtext.String(a.Value.String())
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	_, err := fmt.Fprintln(h.w, line)
	return err
}

func (h *plainHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &plainHandler{w: h.w, level: h.level, attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}

func (h *plainHandler) WithGroup(string) slog.Handler { return h }
