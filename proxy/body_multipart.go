package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"strings"
)

// scanMultipart scans the text parts of a multipart body. File parts (a
// filename in Content-Disposition, or binary content) are refused unless the
// route allows files, in which case they pass unscanned. When a part
// changes, the body is rebuilt with the same boundary; otherwise the
// original bytes are kept.
func (p *Proxy) scanMultipart(ctx context.Context, ex *exchange, direction, ct string, body []byte) ([]byte, bool, error) {
	boundary := mediaParams(ct)["boundary"]
	if boundary == "" {
		return nil, false, &bodyError{Kind: "multipart", Err: fmt.Errorf("%w: no boundary", errMalformed)}
	}
	type part struct {
		header  textproto.MIMEHeader
		content []byte
	}
	var parts []part
	changed := false
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		pt, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, false, &bodyError{Kind: "multipart", Err: fmt.Errorf("%w: bad part", errMalformed)}
		}
		content, err := io.ReadAll(pt)
		if err != nil {
			return nil, false, &bodyError{Kind: "multipart", Err: fmt.Errorf("%w: bad part", errMalformed)}
		}
		if cte := strings.ToLower(pt.Header.Get("Content-Transfer-Encoding")); cte != "" && cte != "7bit" && cte != "8bit" && cte != "binary" {
			return nil, false, &bodyError{Kind: "multipart", Err: fmt.Errorf("%w: unsupported transfer encoding", errMalformed)}
		}
		kind := kindOf(&route{}, pt.Header.Get("Content-Type"))
		isFile := pt.FileName() != "" || kind == kindBinary || kind == kindStatic
		out := content
		switch {
		case isFile && !ex.rt.allowFiles:
			return nil, false, &policyError{Reason: "file_upload"}
		case isFile:
		case ex.rt.skip != nil && anyCovers(ex.rt.skip, []string{pt.FormName()}):
		case kind == kindJSON:
			o, ch, err := p.scanJSON(ctx, ex, direction, content, ex.rt.skip, ex.rt.strict)
			if err != nil {
				return nil, false, err
			}
			if ch {
				out, changed = o, true
			}
		default:
			var preceding []byte
			if name := pt.FormName(); name != "" {
				preceding = []byte(name + ": ")
			}
			o, ch, err := p.scanText(ctx, ex, direction, content, preceding)
			if err != nil {
				return nil, false, err
			}
			if ch {
				out, changed = o, true
			}
		}
		parts = append(parts, part{header: pt.Header, content: out})
	}
	if !changed {
		return body, false, nil
	}
	var buf bytes.Buffer
	buf.Grow(len(body) + 64)
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary(boundary); err != nil {
		return nil, false, &bodyError{Kind: "multipart", Err: fmt.Errorf("%w: bad boundary", errMalformed)}
	}
	for _, pt := range parts {
		w, err := mw.CreatePart(pt.header)
		if err != nil {
			return nil, false, err
		}
		if _, err := w.Write(pt.content); err != nil {
			return nil, false, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, false, err
	}
	return buf.Bytes(), true, nil
}
