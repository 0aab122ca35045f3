package output

import (
	"bufio"
	"context"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// rfc5424 matches HEADER SP STRUCTURED-DATA SP MSG.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[(?:[^\]\\]|\\.)*\]) (.*)$`)

type syslogMsg struct {
	pri                               int
	ts                                time.Time
	host, app, procid, msgid, sd, msg string
}

func parse5424(t *testing.T, s string) syslogMsg {
	t.Helper()
	m := rfc5424.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("not RFC 5424: %q", s)
	}
	pri, _ := strconv.Atoi(m[1])
	ts, err := time.Parse(time.RFC3339Nano, m[2])
	if err != nil {
		t.Fatalf("timestamp %q: %v", m[2], err)
	}
	return syslogMsg{pri, ts, m[3], m[4], m[5], m[6], m[7], m[8]}
}

func checkSyslog(t *testing.T, s string, facility int) {
	t.Helper()
	m := parse5424(t, s)
	if m.pri != facility*8+4 { // Warning is severity 4
		t.Errorf("PRI %d, want %d", m.pri, facility*8+4)
	}
	if m.host != "node-1" || m.app != "vigil" || m.msgid != "alert" {
		t.Errorf("header %+v", m)
	}
	if time.Since(m.ts) > time.Minute {
		t.Errorf("timestamp %v", m.ts)
	}
	if !regexp.MustCompile(`^\[vigil@32473 rule="Read sensitive file" priority="Warning" uuid="[0-9a-f-]{36}" source="syscall" container="host"\]$`).MatchString(m.sd) {
		t.Errorf("structured data %q", m.sd)
	}
	if want := `Warning Sensitive file opened (file=/etc/shadow proc=cat\n)`; m.msg[len(m.msg)-len(want):] != want {
		t.Errorf("msg %q", m.msg)
	}
}

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := NewSyslog(SyslogOptions{Network: "udp", Address: pc.LocalAddr().String(), Facility: 16, Hostname: "node-1"})
	defer s.Close()
	for i := 0; i < 3; i++ {
		if err := s.Write(context.Background(), testAlert(i)); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 65536)
	for i := 0; i < 3; i++ {
		_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		checkSyslog(t, string(buf[:n]), 16)
	}
}

func TestSyslogTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 10)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			// Octet counting: MSG-LEN SP SYSLOG-MSG.
			lenStr, err := r.ReadString(' ')
			if err != nil {
				return
			}
			n, err := strconv.Atoi(lenStr[:len(lenStr)-1])
			if err != nil {
				got <- "bad frame length " + lenStr
				return
			}
			msg := make([]byte, n)
			if _, err := io.ReadFull(r, msg); err != nil {
				return
			}
			got <- string(msg)
		}
	}()
	s := NewSyslog(SyslogOptions{Network: "tcp", Address: ln.Addr().String(), Facility: 3, Hostname: "node-1"})
	defer s.Close()
	for i := 0; i < 3; i++ {
		if err := s.Write(context.Background(), testAlert(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		select {
		case m := <-got:
			checkSyslog(t, m, 3)
		case <-time.After(5 * time.Second):
			t.Fatal("no message")
		}
	}
}

func TestSyslogUnixgram(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log.sock")
	pc, err := net.ListenPacket("unixgram", p)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := NewSyslog(SyslogOptions{Network: "unixgram", Address: p, Facility: 3, Hostname: "node-1"})
	defer s.Close()
	if err := s.Write(context.Background(), testAlert(1)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	checkSyslog(t, string(buf[:n]), 3)
}

func TestSyslogSDEscaping(t *testing.T) {
	a := testAlert(1)
	a.Rule = `weird "rule] \name`
	s := NewSyslog(SyslogOptions{Hostname: "h o\tst"})
	m := parse5424(t, string(s.AppendRFC5424(nil, a)))
	if m.host != "h_o_st" {
		t.Errorf("host %q", m.host)
	}
	if want := `rule="weird \"rule\] \\name"`; !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(m.sd) {
		t.Errorf("sd %q lacks %s", m.sd, want)
	}
}
