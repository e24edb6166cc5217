package webhook_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rebound-go/rebound/webhook"
)

// vectors are the published Standard Webhooks test vectors, from the
// specification's repository, standard-webhooks/standard-webhooks:
//
//   - the first is the sign test of libraries/go/webhook_test.go
//     (TestWebhookSign), repeated in libraries/javascript/src/webhook.test.ts,
//     libraries/python/tests/test_webhooks.py and
//     libraries/php/tests/WebhookTest.php;
//   - the second is test_sign in libraries/rust/src/lib.rs.
var vectors = []struct {
	name, secret, msgID string
	ts                  int64
	payload, signature  string
}{
	{
		name:      "go,js,python,php",
		secret:    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		msgID:     "msg_p5jXN8AQM9LWM0D4loKWxJek",
		ts:        1614265330,
		payload:   `{"test": 2432232314}`,
		signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
	},
	{
		name:      "rust",
		secret:    "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
		msgID:     "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
		ts:        1649367553,
		payload:   `{"email":"test@example.com","username":"test_user"}`,
		signature: "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
	},
}

// Entries from the reference libraries' multi-signature and invalid-signature
// tests: well-formed signatures that match nothing.
const (
	foreignV1 = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
	foreignV2 = "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
)

func mustSecret(t testing.TB, s string) []byte {
	t.Helper()
	key, err := webhook.ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func headers(id, ts, sig string) http.Header {
	h := http.Header{}
	h.Set(webhook.HeaderID, id)
	h.Set(webhook.HeaderTimestamp, ts)
	h.Set(webhook.HeaderSignature, sig)
	return h
}

func TestSignVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			key := mustSecret(t, v.secret)
			ts := time.Unix(v.ts, 0)
			if got := webhook.Sign([][]byte{key}, v.msgID, ts, []byte(v.payload)); got != v.signature {
				t.Errorf("Sign = %q, want %q", got, v.signature)
			}
			// Sub-second parts of the time are not sent.
			if got := webhook.Sign([][]byte{key}, v.msgID, ts.Add(999*time.Millisecond), []byte(v.payload)); got != v.signature {
				t.Errorf("Sign at +999ms = %q, want %q", got, v.signature)
			}
			h := headers(v.msgID, strconv.FormatInt(v.ts, 10), v.signature)
			if err := webhook.Verify([][]byte{key}, h, []byte(v.payload), ts, 0); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func TestVerifyMultipleEntries(t *testing.T) {
	v := vectors[0]
	key := mustSecret(t, v.secret)
	// The reference libraries' multi-signature case, plus an asymmetric entry
	// as in the specification's example header.
	sig := strings.Join([]string{foreignV1, foreignV2, v.signature, foreignV1, "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="}, " ")
	h := headers(v.msgID, strconv.FormatInt(v.ts, 10), sig)
	if err := webhook.Verify([][]byte{key}, h, []byte(v.payload), time.Unix(v.ts, 0), 0); err != nil {
		t.Fatal(err)
	}
	// Without the matching entry nothing verifies.
	h.Set(webhook.HeaderSignature, foreignV1+" "+foreignV2+"  "+foreignV1)
	err := webhook.Verify([][]byte{key}, h, []byte(v.payload), time.Unix(v.ts, 0), 0)
	if !errors.Is(err, webhook.ErrInvalidSignature) {
		t.Fatalf("err = %v, want ErrInvalidSignature", err)
	}
}

func TestVerifyRotation(t *testing.T) {
	oldKey := mustSecret(t, vectors[0].secret)
	newKey := mustSecret(t, vectors[1].secret)
	id, body := "msg_rotation", []byte(`{"type":"invoice.paid"}`)
	now := time.Unix(1700000000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)

	both := webhook.Sign([][]byte{newKey, oldKey}, id, now, body)
	entries := strings.Split(both, " ")
	if len(entries) != 2 {
		t.Fatalf("Sign with two secrets = %q, want two entries", both)
	}
	if entries[0] != webhook.Sign([][]byte{newKey}, id, now, body) || entries[1] != webhook.Sign([][]byte{oldKey}, id, now, body) {
		t.Fatalf("Sign with two secrets = %q, want the single-secret entries in order", both)
	}

	signedWithOld := webhook.Sign([][]byte{oldKey}, id, now, body)
	for _, tc := range []struct {
		name     string
		sender   string
		receiver [][]byte
		wantErr  error
	}{
		{"receiver still on the old secret", both, [][]byte{oldKey}, nil},
		{"receiver already on the new secret", both, [][]byte{newKey}, nil},
		{"sender not rotated yet, receiver knows both", signedWithOld, [][]byte{newKey, oldKey}, nil},
		{"old secret retired", signedWithOld, [][]byte{newKey}, webhook.ErrInvalidSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := webhook.Verify(tc.receiver, headers(id, ts, tc.sender), body, now, 0)
			if !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestVerifyTampered(t *testing.T) {
	v := vectors[0]
	key := mustSecret(t, v.secret)
	now := time.Unix(v.ts, 0)
	ts := strconv.FormatInt(v.ts, 10)
	for _, tc := range []struct {
		name        string
		id, ts, sig string
		body        string
		secret      []byte
	}{
		{"body", v.msgID, ts, v.signature, `{"test": 2432232315}`, key},
		{"body truncated", v.msgID, ts, v.signature, v.payload[:len(v.payload)-1], key},
		{"empty body", v.msgID, ts, v.signature, "", key},
		{"id", "msg_p5jXN8AQM9LWM0D4loKWxJeK", ts, v.signature, v.payload, key},
		{"timestamp one second later", v.msgID, strconv.FormatInt(v.ts+1, 10), v.signature, v.payload, key},
		// From libraries/python/tests/test_webhooks.py: the last character changed.
		{"signature", v.msgID, ts, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", v.payload, key},
		{"secret", v.msgID, ts, v.signature, v.payload, mustSecret(t, vectors[1].secret)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := webhook.Verify([][]byte{tc.secret}, headers(tc.id, tc.ts, tc.sig), []byte(tc.body), now, 0)
			if !errors.Is(err, webhook.ErrInvalidSignature) {
				t.Fatalf("err = %v, want ErrInvalidSignature", err)
			}
			var ve *webhook.VerifyError
			if !errors.As(err, &ve) || ve.Header != webhook.HeaderSignature {
				t.Fatalf("err = %#v, want a *VerifyError naming %s", err, webhook.HeaderSignature)
			}
		})
	}
}

func TestVerifyTolerance(t *testing.T) {
	key := mustSecret(t, vectors[0].secret)
	signedAt := time.Unix(1700000000, 0)
	id, body := "msg_tolerance", []byte("{}")
	h := headers(id, strconv.FormatInt(signedAt.Unix(), 10), webhook.Sign([][]byte{key}, id, signedAt, body))
	const tol = webhook.DefaultTolerance
	for _, tc := range []struct {
		name      string
		now       time.Time
		tolerance time.Duration
		want      error
	}{
		{"same second", signedAt, 0, nil},
		{"later within the second", signedAt.Add(999 * time.Millisecond), 0, nil},
		{"exactly tolerance late", signedAt.Add(tol), 0, nil},
		{"a nanosecond too late", signedAt.Add(tol + 1), 0, webhook.ErrTimestampTooOld},
		{"a second too late", signedAt.Add(tol + time.Second), 0, webhook.ErrTimestampTooOld},
		{"a day late", signedAt.Add(24 * time.Hour), 0, webhook.ErrTimestampTooOld},
		{"exactly tolerance early", signedAt.Add(-tol), 0, nil},
		{"a nanosecond too early", signedAt.Add(-tol - 1), 0, webhook.ErrTimestampTooNew},
		{"a second too early", signedAt.Add(-tol - time.Second), 0, webhook.ErrTimestampTooNew},
		{"negative tolerance means default", signedAt.Add(tol), -time.Second, nil},
		{"custom tolerance, at the edge", signedAt.Add(time.Second), time.Second, nil},
		{"custom tolerance, past the edge", signedAt.Add(time.Second + 1), time.Second, webhook.ErrTimestampTooOld},
		{"custom tolerance, early edge", signedAt.Add(-time.Second), time.Second, nil},
		{"custom tolerance, too early", signedAt.Add(-time.Second - 1), time.Second, webhook.ErrTimestampTooNew},
		{"receiver clock at the epoch", time.Unix(0, 0), 0, webhook.ErrTimestampTooNew},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := webhook.Verify([][]byte{key}, h, body, tc.now, tc.tolerance)
			if !errors.Is(err, tc.want) || (err != nil) != (tc.want != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var ve *webhook.VerifyError
			if err != nil && (!errors.As(err, &ve) || ve.Header != webhook.HeaderTimestamp) {
				t.Fatalf("err = %#v, want a *VerifyError naming %s", err, webhook.HeaderTimestamp)
			}
		})
	}
}

// A stale message with a bad signature is reported as a bad signature: the
// timestamp errors are kept for authentic messages.
func TestVerifyChecksSignatureBeforeTimestamp(t *testing.T) {
	v := vectors[0]
	key := mustSecret(t, v.secret)
	h := headers(v.msgID, strconv.FormatInt(v.ts, 10), foreignV1)
	err := webhook.Verify([][]byte{key}, h, []byte(v.payload), time.Unix(v.ts, 0).Add(time.Hour), 0)
	if !errors.Is(err, webhook.ErrInvalidSignature) {
		t.Fatalf("err = %v, want ErrInvalidSignature", err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	v := vectors[0]
	key := mustSecret(t, v.secret)
	now := time.Unix(v.ts, 0)
	ts := strconv.FormatInt(v.ts, 10)
	valid := func() http.Header { return headers(v.msgID, ts, v.signature) }
	with := func(name, value string) http.Header {
		h := valid()
		h.Set(name, value)
		return h
	}
	without := func(name string) http.Header {
		h := valid()
		h.Del(name)
		return h
	}
	repeated := func(name string) http.Header {
		h := valid()
		h.Add(name, h.Get(name))
		return h
	}
	many := func(n int) string {
		return strings.TrimSpace(strings.Repeat(foreignV1+" ", n-1) + v.signature)
	}

	for _, tc := range []struct {
		name   string
		h      http.Header
		header string
		want   error
	}{
		{"no headers", http.Header{}, webhook.HeaderID, webhook.ErrMissingHeaders},
		{"missing id", without(webhook.HeaderID), webhook.HeaderID, webhook.ErrMissingHeaders},
		{"missing timestamp", without(webhook.HeaderTimestamp), webhook.HeaderTimestamp, webhook.ErrMissingHeaders},
		{"missing signature", without(webhook.HeaderSignature), webhook.HeaderSignature, webhook.ErrMissingHeaders},
		{"empty id", with(webhook.HeaderID, ""), webhook.HeaderID, webhook.ErrMissingHeaders},
		{"empty signature", with(webhook.HeaderSignature, ""), webhook.HeaderSignature, webhook.ErrMissingHeaders},
		{"repeated id", repeated(webhook.HeaderID), webhook.HeaderID, webhook.ErrMalformedHeader},
		{"repeated timestamp", repeated(webhook.HeaderTimestamp), webhook.HeaderTimestamp, webhook.ErrMalformedHeader},
		{"repeated signature", repeated(webhook.HeaderSignature), webhook.HeaderSignature, webhook.ErrMalformedHeader},

		{"id with a dot", with(webhook.HeaderID, "msg.1614265330"), webhook.HeaderID, webhook.ErrMalformedHeader},
		{"id with a space", with(webhook.HeaderID, "msg 1"), webhook.HeaderID, webhook.ErrMalformedHeader},
		{"id with a control byte", with(webhook.HeaderID, "msg\x00"), webhook.HeaderID, webhook.ErrMalformedHeader},
		{"id not ASCII", with(webhook.HeaderID, "msg_é"), webhook.HeaderID, webhook.ErrMalformedHeader},
		{"id too long", with(webhook.HeaderID, strings.Repeat("m", webhook.MaxIDLen+1)), webhook.HeaderID, webhook.ErrMalformedHeader},

		// "hello" is the reference libraries' invalid timestamp.
		{"timestamp not a number", with(webhook.HeaderTimestamp, "hello"), webhook.HeaderTimestamp, webhook.ErrMalformedHeader},
		{"timestamp negative", with(webhook.HeaderTimestamp, "-"+ts), webhook.HeaderTimestamp, webhook.ErrMalformedHeader},
		{"timestamp with plus sign", with(webhook.HeaderTimestamp, "+"+ts), webhook.HeaderTimestamp, webhook.ErrMalformedHeader},
		{"timestamp with leading zero", with(webhook.HeaderTimestamp, "0"+ts), webhook.HeaderTimestamp, webhook.ErrMalformedHeader},
		{"timestamp fractional", with(webhook.HeaderTimestamp, ts+".0"), webhook.HeaderTimestamp, webhook.ErrMalformedHeader},
		{"timestamp overflows int64", with(webhook.HeaderTimestamp, "9999999999999999999"), webhook.HeaderTimestamp, webhook.ErrMalformedHeader},
		{"timestamp too long", with(webhook.HeaderTimestamp, strings.Repeat("1", 20)), webhook.HeaderTimestamp, webhook.ErrMalformedHeader},
		{"timestamp with space", with(webhook.HeaderTimestamp, " "+ts), webhook.HeaderTimestamp, webhook.ErrMalformedHeader},

		// "v1,dawfeoifkpqwoekfpqoekf", the 8-byte prefix and "v1," are the
		// reference libraries' invalid and partial signatures.
		{"signature too short", with(webhook.HeaderSignature, "v1,dawfeoifkpqwoekfpqoekf"), webhook.HeaderSignature, webhook.ErrMalformedHeader},
		{"signature cut", with(webhook.HeaderSignature, v.signature[:8]), webhook.HeaderSignature, webhook.ErrMalformedHeader},
		{"signature empty entry", with(webhook.HeaderSignature, "v1,"), webhook.HeaderSignature, webhook.ErrMalformedHeader},
		{"signature without version", with(webhook.HeaderSignature, v.signature[3:]), webhook.HeaderSignature, webhook.ErrMalformedHeader},
		{"signature not base64", with(webhook.HeaderSignature, "v1,"+strings.Repeat("!", 44)), webhook.HeaderSignature, webhook.ErrMalformedHeader},
		{"signature unpadded", with(webhook.HeaderSignature, strings.TrimSuffix(v.signature, "=")+"A"), webhook.HeaderSignature, webhook.ErrMalformedHeader},
		{"signature non-canonical base64", with(webhook.HeaderSignature, strings.TrimSuffix(v.signature, "E=")+"F="), webhook.HeaderSignature, webhook.ErrMalformedHeader},
		{"signature too long", with(webhook.HeaderSignature, v.signature+strings.Repeat(" ", webhook.MaxSignatureHeaderLen)), webhook.HeaderSignature, webhook.ErrMalformedHeader},
		{"too many signatures", with(webhook.HeaderSignature, many(webhook.MaxSignatures+1)), webhook.HeaderSignature, webhook.ErrMalformedHeader},
		{"only asymmetric signatures", with(webhook.HeaderSignature, "v1a,"+v.signature[3:]), webhook.HeaderSignature, webhook.ErrInvalidSignature},

		{"most signatures allowed", with(webhook.HeaderSignature, many(webhook.MaxSignatures)), "", nil},
		{"doubled spaces", with(webhook.HeaderSignature, foreignV1+"  "+v.signature), "", nil},
		{"longest id", with(webhook.HeaderID, strings.Repeat("m", webhook.MaxIDLen)), webhook.HeaderSignature, webhook.ErrInvalidSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := webhook.Verify([][]byte{key}, tc.h, []byte(v.payload), now, 0)
			if !errors.Is(err, tc.want) || (err != nil) != (tc.want != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil {
				return
			}
			var ve *webhook.VerifyError
			if !errors.As(err, &ve) || ve.Header != tc.header {
				t.Fatalf("err = %#v, want a *VerifyError naming %s", err, tc.header)
			}
			if !strings.Contains(err.Error(), tc.header) {
				t.Errorf("%q does not name %s", err, tc.header)
			}
		})
	}
}

func TestVerifyNeedsSecrets(t *testing.T) {
	v := vectors[0]
	h := headers(v.msgID, strconv.FormatInt(v.ts, 10), v.signature)
	for _, secrets := range [][][]byte{nil, {}, {nil}, {mustSecret(t, v.secret), {}}} {
		err := webhook.Verify(secrets, h, []byte(v.payload), time.Unix(v.ts, 0), 0)
		var ve *webhook.VerifyError
		if err == nil || errors.As(err, &ve) {
			t.Errorf("Verify(%d secrets) = %v, want a configuration error", len(secrets), err)
		}
	}
}

func TestSignPanicsWithoutSecrets(t *testing.T) {
	for _, secrets := range [][][]byte{nil, {[]byte("0123456789abcdef01234567"), nil}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Sign(%d secrets) did not panic", len(secrets))
				}
			}()
			webhook.Sign(secrets, "msg", time.Unix(0, 0), nil)
		}()
	}
}

func TestParseSecret(t *testing.T) {
	raw := strings.TrimPrefix(vectors[0].secret, webhook.SecretPrefix)
	want, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{vectors[0].secret, raw} {
		got, err := webhook.ParseSecret(s)
		if err != nil || string(got) != string(want) {
			t.Errorf("ParseSecret(%q) = %x, %v; want %x", s, got, err, want)
		}
	}

	key := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	for _, s := range []string{key(webhook.MinSecretLen), key(webhook.MaxSecretLen)} {
		if _, err := webhook.ParseSecret(webhook.SecretPrefix + s); err != nil {
			t.Errorf("ParseSecret of a %d-byte key: %v", len(s), err)
		}
	}

	const canary = "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4" // must not appear in errors
	for _, tc := range []struct{ name, s string }{
		{"empty", ""},
		{"prefix only", webhook.SecretPrefix},
		{"asymmetric secret key", "whsk_" + canary},
		{"asymmetric public key", "whpk_" + canary},
		{"unknown prefix", "whatever_" + canary},
		{"URL-safe base64", webhook.SecretPrefix + "-_" + canary[2:]},
		{"unpadded", webhook.SecretPrefix + base64.RawStdEncoding.EncodeToString(make([]byte, 25))},
		{"not base64", webhook.SecretPrefix + "!!!!" + canary},
		{"too short", webhook.SecretPrefix + key(webhook.MinSecretLen-1)},
		{"too long", webhook.SecretPrefix + key(webhook.MaxSecretLen+1)},
		{"far too long", webhook.SecretPrefix + key(1<<20)},
		{"prefix twice", webhook.SecretPrefix + webhook.SecretPrefix + canary},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := webhook.ParseSecret(tc.s)
			if !errors.Is(err, webhook.ErrInvalidSecret) {
				t.Fatalf("ParseSecret = %x, %v; want ErrInvalidSecret", got, err)
			}
			if strings.Contains(err.Error(), canary[4:12]) {
				t.Errorf("the error %q repeats the secret", err)
			}
		})
	}
}

func TestNewSecret(t *testing.T) {
	a, b := webhook.NewSecret(), webhook.NewSecret()
	if a == b {
		t.Fatalf("two NewSecret calls returned %q", a)
	}
	for _, s := range []string{a, b} {
		if !strings.HasPrefix(s, webhook.SecretPrefix) {
			t.Errorf("%q lacks the %s prefix", s, webhook.SecretPrefix)
		}
		key, err := webhook.ParseSecret(s)
		if err != nil {
			t.Fatal(err)
		}
		if len(key) < 24 || len(key) > 32 {
			t.Errorf("NewSecret made a %d-byte key", len(key))
		}
	}
}

// A message signed with Sign verifies with Verify, for any body and any
// well-formed ID.
func TestSignVerifyRoundTrip(t *testing.T) {
	key := mustSecret(t, webhook.NewSecret())
	now := time.Now()
	for _, body := range [][]byte{nil, {}, []byte("x"), []byte("a.b.c"), make([]byte, 1<<16)} {
		for _, id := range []string{"1", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", "0190d5a4-7e8f-7c3a-9d2b-4f5e6a7b8c9d", strings.Repeat("z", webhook.MaxIDLen)} {
			h := headers(id, strconv.FormatInt(now.Unix(), 10), webhook.Sign([][]byte{key}, id, now, body))
			if err := webhook.Verify([][]byte{key}, h, body, now, 0); err != nil {
				t.Errorf("id %q, %d-byte body: %v", id, len(body), err)
			}
		}
	}
}

func FuzzVerify(f *testing.F) {
	secrets := [][]byte{mustSecret(f, vectors[0].secret), mustSecret(f, vectors[1].secret)}
	now := time.Unix(vectors[0].ts, 0)
	for _, v := range vectors {
		ts := strconv.FormatInt(v.ts, 10)
		f.Add(v.msgID, ts, v.signature, []byte(v.payload))
		f.Add(v.msgID, ts, foreignV1+" "+foreignV2+" "+v.signature, []byte(v.payload))
		f.Add(v.msgID, ts, "v1,dawfeoifkpqwoekfpqoekf", []byte(v.payload))
		f.Add(v.msgID, "hello", v.signature, []byte(v.payload))
		f.Add(v.msgID+".1", ts, v.signature[:8], []byte(""))
		f.Add("", "", "", []byte(nil))
	}

	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		err := webhook.Verify(secrets, headers(id, ts, sig), body, now, 0)
		if err == nil {
			// Only a genuine signature verifies: one entry is what Sign
			// computes for this id, timestamp and body.
			sec, perr := strconv.ParseInt(ts, 10, 64)
			if perr != nil {
				t.Fatalf("verified with an unparsable timestamp %q", ts)
			}
			want := strings.Fields(webhook.Sign(secrets, id, time.Unix(sec, 0), body))
			found := false
			for _, entry := range strings.Fields(sig) {
				found = found || entry == want[0] || entry == want[1]
			}
			if !found {
				t.Fatalf("verified %q without a genuine entry (want one of %q)", sig, want)
			}
		} else {
			var ve *webhook.VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %#v, want a *VerifyError", err)
			}
			switch ve.Err {
			case webhook.ErrMissingHeaders, webhook.ErrMalformedHeader, webhook.ErrInvalidSignature, webhook.ErrTimestampTooOld, webhook.ErrTimestampTooNew:
			default:
				t.Fatalf("err = %v, unwraps to no sentinel", err)
			}
			if ve.Header != webhook.HeaderID && ve.Header != webhook.HeaderTimestamp && ve.Header != webhook.HeaderSignature {
				t.Fatalf("err = %v names header %q", err, ve.Header)
			}
		}

		// Signing the fuzzed id and body always verifies, unless the id is
		// one Verify refuses.
		signed := webhook.Sign(secrets[1:], id, now, body)
		err = webhook.Verify(secrets, headers(id, strconv.FormatInt(now.Unix(), 10), signed), body, now, 0)
		var ve *webhook.VerifyError
		if err != nil && (!errors.As(err, &ve) || ve.Header != webhook.HeaderID) {
			t.Fatalf("a fresh signature for id %q failed: %v", id, err)
		}
	})
}

func BenchmarkSign(b *testing.B) {
	key := mustSecret(b, vectors[0].secret)
	body := make([]byte, 1<<10)
	now := time.Unix(vectors[0].ts, 0)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		webhook.Sign([][]byte{key}, vectors[0].msgID, now, body)
	}
}

func BenchmarkVerify(b *testing.B) {
	key := mustSecret(b, vectors[0].secret)
	body := make([]byte, 1<<10)
	now := time.Unix(vectors[0].ts, 0)
	h := headers(vectors[0].msgID, strconv.FormatInt(now.Unix(), 10), webhook.Sign([][]byte{key}, vectors[0].msgID, now, body))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := webhook.Verify([][]byte{key}, h, body, now, 0); err != nil {
			b.Fatal(err)
		}
	}
}
