package reboundhttp

import (
	"bytes"
	"io"
	"net/http"
)

// DefaultMaxBufferedBody is the request body size a zero
// Config.MaxBufferedBody stands for.
const DefaultMaxBufferedBody = 1 << 20

// maxDrain bounds how much of a discarded response body is read so that its
// connection can be reused.
const maxDrain = 4 << 10

// prepareBody makes req's body replayable. It returns the request to send
// on the first attempt and whether later attempts can replay the body.
// A body with GetBody is replayable as it is. A body without GetBody is read
// into memory up to limit bytes; a longer one is sent once, unbuffered past
// what was read.
func prepareBody(req *http.Request, limit int64) (*http.Request, bool, error) {
	if req.Body == nil || req.Body == http.NoBody || req.GetBody != nil {
		return req, true, nil
	}
	if limit < 0 {
		return req, false, nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		req.Body.Close()
		return nil, false, err
	}
	r := new(http.Request)
	*r = *req
	if int64(len(buf)) > limit {
		// Too large to keep: send what was read followed by the rest, once.
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}
		return r, false, nil
	}
	req.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(buf))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	if r.ContentLength <= 0 {
		r.ContentLength = int64(len(buf))
	}
	return r, true, nil
}

// peekBody reads up to maxDrain bytes of a failed response's body. When
// that is the whole body, the original is closed (its connection goes back
// to the pool at once) and the bytes stay readable; otherwise the body
// reads the peeked bytes and then the rest. The returned slice is the peek.
func peekBody(resp *http.Response) []byte {
	if resp.Body == nil || resp.Body == http.NoBody {
		return nil
	}
	size := 512
	if n := resp.ContentLength; n >= 0 && n < maxDrain {
		size = int(n) + 1 // room to see EOF without growing
	}
	buf := make([]byte, 0, size)
	for len(buf) <= maxDrain {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		limit := min(cap(buf), maxDrain+1)
		n, err := resp.Body.Read(buf[len(buf):limit])
		buf = buf[:len(buf)+n]
		if err != nil {
			if err == io.EOF {
				resp.Body.Close()
				resp.Body = newPeekedBody(buf)
				return buf
			}
			break
		}
	}
	orig := resp.Body
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), orig), orig}
	return buf
}

// peekedBody is a response body read whole into memory; its connection is
// already released.
type peekedBody struct {
	bytes.Reader
	b []byte // the whole body
}

func newPeekedBody(b []byte) *peekedBody {
	pb := &peekedBody{b: b}
	pb.Reset(b)
	return pb
}

func (*peekedBody) Close() error { return nil }

// discard drains at most maxDrain bytes of a response the caller will never
// see and closes it.
func discard(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	if _, ok := resp.Body.(*peekedBody); !ok {
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
	}
	resp.Body.Close()
}
