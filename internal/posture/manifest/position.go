package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	yaml4 "go.yaml.in/yaml/v4"
	yaml3 "gopkg.in/yaml.v3"
)

// yamlSyntaxError re-parses a document that failed to convert and returns
// the 1-based line and column, relative to text, where the parser stopped,
// and, when the parser reports it, where the construct it was reading
// started (ctxLine 0 when not). A stop past the end of text (an unclosed
// bracket or quote) is reported at that construct. go.yaml.in/yaml/v4 is
// used only here: its errors carry the column, those of the YAML libraries
// that decode the documents do not.
func yamlSyntaxError(text []byte) (line, col, ctxLine, ctxCol int, msg, ctxMsg string, ok bool) {
	var n yaml4.Node
	err := yaml4.Unmarshal(text, &n)
	var le *yaml4.LoadError
	if !errors.As(err, &le) || le.Mark.Line == 0 {
		return 0, 0, 0, 0, "", "", false
	}
	line, col, msg, ctxMsg = le.Mark.Line, le.Mark.Column, le.Message, le.ContextMsg
	if le.ContextMark.Line > 0 && (le.ContextMark.Line != line || le.ContextMark.Column != col) {
		ctxLine, ctxCol = le.ContextMark.Line, le.ContextMark.Column
	}
	if lines := bytes.Count(bytes.TrimRight(text, "\n"), []byte("\n")) + 1; line > lines && ctxLine > 0 {
		line, col, ctxLine, ctxCol = ctxLine, ctxCol, 0, 0
		msg = strings.TrimSpace(msg + " before the end of the document")
	}
	return line, col, ctxLine, ctxCol, msg, ctxMsg, true
}

// typeErrorPath returns the field path ("spec.containers[0].ports[1].containerPort")
// of the value a *json.UnmarshalTypeError from decoding js is about, and a
// message naming the field and both types.
func typeErrorPath(js []byte, err error) (path, msg string, ok bool) {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return "", "", false
	}
	path = jsonPathAt(js, te.Offset)
	if path == "" {
		return "", "", false
	}
	want := "a different type"
	if te.Type != nil {
		want = te.Type.String()
	}
	return path, fmt.Sprintf("%s: cannot decode a JSON %s as %s", path, te.Value, want), true
}

// jsonPathAt returns the path of the last value of js that starts before
// off (an offset just past the value a decoder complained about).
func jsonPathAt(js []byte, off int64) string {
	type frame struct {
		array bool
		index int
		key   string
		want  bool // object: the next string token is a key
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	var stack []frame
	best := ""
	pathOf := func() string {
		var b strings.Builder
		for i, f := range stack {
			if f.array {
				b.WriteString("[" + strconv.Itoa(f.index) + "]")
				continue
			}
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		}
		return b.String()
	}
	for {
		// The value starts after whitespace and separators that follow the
		// previous token.
		start := dec.InputOffset()
		for int(start) < len(js) && strings.IndexByte(" \t\r\n,:", js[start]) >= 0 {
			start++
		}
		if start >= off {
			return best
		}
		tok, err := dec.Token()
		if err == io.EOF || err != nil {
			return best
		}
		top := len(stack) - 1
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:top]
			if top > 0 {
				advance(&stack[top-1].array, &stack[top-1].index, &stack[top-1].want)
			}
			continue
		}
		if top >= 0 && !stack[top].array && stack[top].want {
			stack[top].key, stack[top].want = tok.(string), false
			continue
		}
		if len(stack) > 0 {
			best = pathOf()
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, frame{array: d == '[', want: d == '{'})
			continue
		}
		if top >= 0 {
			advance(&stack[top].array, &stack[top].index, &stack[top].want)
		}
	}
}

// advance moves a container past one value: the next array index, or back
// to expecting a key.
func advance(array *bool, index *int, want *bool) {
	if *array {
		*index++
	} else {
		*want = true
	}
}

// valuePos returns the 1-based line and column, relative to text, of the
// value at path, or of the deepest part of the path that exists.
func valuePos(text []byte, path string) (line, col int, ok bool) {
	var doc yaml3.Node
	if yaml3.Unmarshal(text, &doc) != nil || len(doc.Content) != 1 {
		return 0, 0, false
	}
	n := doc.Content[0]
	line, col = n.Line, n.Column
	for _, seg := range splitPath(path) {
		next, _ := child(n, seg)
		if next == nil {
			break
		}
		n = next
		line, col = n.Line, n.Column
	}
	return line, col, true
}
