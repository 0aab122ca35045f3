package output

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

// SyslogOptions configures a Syslog output.
type SyslogOptions struct {
	// Network is "unixgram" (or "unix") for a local socket, "udp" or "tcp".
	Network string
	Address string
	// Facility is the syslog facility number (3 is daemon).
	Facility int
	AppName  string
	Hostname string
	Format   Format
	// DialTimeout bounds a connection attempt; zero means 5s.
	DialTimeout time.Duration
}

// SDID is the structured-data id of Vigil's syslog parameters (32473 is
// the private enterprise number reserved for examples).
const SDID = "vigil@32473"

// Syslog sends alerts as RFC 5424 messages: one datagram each over
// unixgram and udp, octet-counted frames (RFC 6587) over tcp. The severity
// is the alert's priority.
type Syslog struct {
	opts SyslogOptions
	conn net.Conn
	pid  string
	buf  []byte
	msg  []byte
}

// NewSyslog returns a syslog output; it connects on first use and
// reconnects after an error.
func NewSyslog(opts SyslogOptions) *Syslog {
	if opts.AppName == "" {
		opts.AppName = "vigil"
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	return &Syslog{opts: opts, pid: strconv.Itoa(os.Getpid())}
}

// Name implements Output.
func (s *Syslog) Name() string { return "syslog" }

// AppendRFC5424 appends a's RFC 5424 message (without framing) to b.
func (s *Syslog) AppendRFC5424(b []byte, a *alert.Alert) []byte {
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(s.opts.Facility*8+int(a.Priority)), 10)
	b = append(b, ">1 "...)
	b = a.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, ' ')
	b = appendHeaderField(b, s.opts.Hostname, 255)
	b = append(b, ' ')
	b = appendHeaderField(b, s.opts.AppName, 48)
	b = append(b, ' ')
	b = append(b, s.pid...)
	b = append(b, " alert ["...)
	b = append(b, SDID...)
	b = appendParam(b, "rule", a.Rule)
	b = appendParam(b, "priority", a.Priority.String())
	b = appendParam(b, "uuid", a.UUID)
	b = appendParam(b, "source", a.Source)
	b = appendParam(b, "container", a.ContainerID())
	if a.Vigil.Count > 1 {
		b = appendParam(b, "count", strconv.FormatUint(a.Vigil.Count, 10))
	}
	b = append(b, "] "...)
	if s.opts.Format == FormatJSON {
		return a.AppendJSON(b)
	}
	return a.AppendText(b)
}

// appendHeaderField appends an RFC 5424 header field: printable US-ASCII,
// at most n bytes, "-" when empty.
func appendHeaderField(b []byte, v string, n int) []byte {
	if v == "" {
		return append(b, '-')
	}
	for i := 0; i < len(v) && i < n; i++ {
		c := v[i]
		if c < 33 || c > 126 {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

// appendParam appends ` name="value"` with '"', '\' and ']' escaped.
func appendParam(b []byte, name, v string) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, '=', '"')
	start := 0
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '"' || c == '\\' || c == ']' {
			b = append(b, v[start:i]...)
			b = append(b, '\\', c)
			start = i + 1
		}
	}
	b = append(b, v[start:]...)
	return append(b, '"')
}

// Write implements Output.
func (s *Syslog) Write(ctx context.Context, a *alert.Alert) error {
	s.buf = s.buf[:0]
	if s.opts.Network == "tcp" {
		// Octet counting: reserve room for the length, fill it in after.
		s.msg = s.AppendRFC5424(s.msg[:0], a)
		s.buf = strconv.AppendInt(s.buf, int64(len(s.msg)), 10)
		s.buf = append(s.buf, ' ')
		s.buf = append(s.buf, s.msg...)
	} else {
		s.buf = s.AppendRFC5424(s.buf, a)
	}
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if s.conn == nil {
			if err = s.dial(ctx); err != nil {
				continue
			}
		}
		if _, err = s.conn.Write(s.buf); err == nil {
			return nil
		}
		s.conn.Close()
		s.conn = nil
	}
	return fmt.Errorf("syslog %s %s: %w", s.opts.Network, s.opts.Address, err)
}

func (s *Syslog) dial(ctx context.Context) error {
	network := s.opts.Network
	if network == "unix" {
		network = "unixgram"
	}
	d := net.Dialer{Timeout: s.opts.DialTimeout}
	c, err := d.DialContext(ctx, network, s.opts.Address)
	if err != nil {
		return err
	}
	s.conn = c
	return nil
}

// Close implements Output.
func (s *Syslog) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}
