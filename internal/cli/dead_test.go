package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rebound-go/rebound/internal/api"
	"github.com/rebound-go/rebound/outbox"
)

// enqueued enqueues a message for dest through the command and returns its
// ID.
func (a *relayAPI) enqueued(t *testing.T, dest string) string {
	t.Helper()
	r := runAPI(t, enqueue, testEnv, "", a.as(adminToken, "--destination", dest, "--data", `{"n": 1}`)...)
	wantCode(t, r, 0)
	return strings.TrimSpace(r.stdout)
}

// killAll claims every message due and marks it dead, as a relay would
// after a permanent failure.
func (a *relayAPI) killAll(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	// Claim as of a minute from now, so that every message just enqueued
	// is due whatever the clocks say.
	ds, err := a.be.Outbox.Claim(ctx, time.Now().Add(time.Minute), time.Minute, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if err := a.be.Outbox.MarkDead(ctx, d.ID, d.Attempt, "permanent", "boom: the destination said\tno\nat all", 500); err != nil {
			t.Fatal(err)
		}
	}
}

// deadMessages enqueues a message for each destination and kills them,
// returning their IDs in order.
func (a *relayAPI) deadMessages(t *testing.T, dests ...string) []string {
	t.Helper()
	var ids []string
	for _, d := range dests {
		ids = append(ids, a.enqueued(t, d))
	}
	a.killAll(t)
	return ids
}

func (a *relayAPI) wantState(t *testing.T, id string, want outbox.State) {
	t.Helper()
	if got := a.get(t, id).State; got != want {
		t.Errorf("%s is %v, want %v", id, got, want)
	}
}

func TestDeadListShowsTheDeadMessages(t *testing.T) {
	a := newRelayAPI(t)
	ids := a.deadMessages(t, "orders", "billing")
	pending := a.enqueued(t, "orders")

	r := runAPI(t, dead, testEnv, "", a.as(readToken, "list")...)
	wantCode(t, r, 0)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("stdout:\n%s\nwant a header and 2 rows", r.stdout)
	}
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != "ID DESTINATION ATTEMPTS REASON STATUS LAST ERROR" {
		t.Errorf("header %q", lines[0])
	}
	for i, dest := range []string{"orders", "billing"} {
		want := []string{ids[i], dest, "1", "permanent", "500", "boom:", "the", "destination", "said", "no", "at", "all"}
		if f := strings.Fields(lines[i+1]); strings.Join(f, " ") != strings.Join(want, " ") {
			t.Errorf("row %d: %q, want the fields %q", i+1, lines[i+1], want)
		}
	}
	if strings.Contains(r.stdout, pending) || r.stderr != "" {
		t.Errorf("stdout shows the pending message, or stderr %q", r.stderr)
	}

	r = runAPI(t, dead, testEnv, "", a.as(readToken, "list", "--destination", "billing", "--json")...)
	wantCode(t, r, 0)
	var got []api.Message
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var m api.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, m)
	}
	if len(got) != 1 || got[0].ID != ids[1] || got[0].State != "dead" || got[0].LastStatus != 500 || got[0].DeadReason != "permanent" {
		t.Errorf("--json lines %+v, want the dead billing message", got)
	}
}

func TestDeadListFollowsPagesUpToTheLimit(t *testing.T) {
	a := newRelayAPI(t)
	ids := a.deadMessages(t, "d", "d", "d", "d", "d")
	env := testEnv
	env.page = 2

	rows := func(r result) []string {
		var first []string
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
			first = append(first, strings.Fields(line)[0])
		}
		return first
	}
	r := runAPI(t, dead, env, "", a.as(readToken, "list")...)
	wantCode(t, r, 0)
	if got := rows(r); strings.Join(got, " ") != strings.Join(ids, " ") || r.stderr != "" {
		t.Errorf("listed %q, stderr %q; want %q in order", got, r.stderr, ids)
	}

	r = runAPI(t, dead, env, "", a.as(readToken, "list", "--limit", "3")...)
	wantCode(t, r, 0)
	if got := rows(r); strings.Join(got, " ") != strings.Join(ids[:3], " ") {
		t.Errorf("listed %q, want %q", got, ids[:3])
	}
	if r.stderr != "rebound dead list: showing the first 3; there may be more (see --limit)\n" {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestDeadListWithNoDeadMessages(t *testing.T) {
	a := newRelayAPI(t)
	a.enqueued(t, "d")
	r := runAPI(t, dead, testEnv, "", a.as(readToken, "list")...)
	wantCode(t, r, 0)
	if r.stdout != "" || r.stderr != "rebound dead list: no dead messages\n" {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
}

func TestDeadReplayMakesMessagesPending(t *testing.T) {
	a := newRelayAPI(t)
	ids := a.deadMessages(t, "d", "d")
	// The flags may come after the subcommand as well as before.
	r := runAPI(t, dead, testEnv, "", "replay", ids[0], "--server", a.URL, "--token", adminToken)
	wantCode(t, r, 0)
	if r.stdout != "replayed "+ids[0]+"\n" || r.stderr != "" {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
	a.wantState(t, ids[0], outbox.Pending)
	a.wantState(t, ids[1], outbox.Dead)

	// A message that is not dead, or unknown, is refused; the others go on.
	r = runAPI(t, dead, testEnv, "", a.as(adminToken, "replay", ids[0], "no-such-id", ids[1])...)
	wantCode(t, r, 3)
	if r.stdout != "replayed "+ids[1]+"\n" {
		t.Errorf("stdout %q, want the one replayed", r.stdout)
	}
	want := "rebound dead replay: " + ids[0] + ": 409 Message is not dead (field id): Only dead messages can be replayed or discarded.\n" +
		`rebound dead replay: no-such-id: 404 Message not found (field id): No message has the ID "no-such-id".` + "\n"
	if r.stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
	a.wantState(t, ids[1], outbox.Pending)
}

func TestDeadReplayInBulk(t *testing.T) {
	a := newRelayAPI(t)
	ids := a.deadMessages(t, "orders", "billing", "billing")

	r := runAPI(t, dead, testEnv, "", a.as(adminToken, "replay", "--destination", "billing")...)
	wantCode(t, r, 0)
	if r.stdout != `replayed 2 dead messages of "billing"`+"\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	a.wantState(t, ids[0], outbox.Dead)
	a.wantState(t, ids[1], outbox.Pending)

	r = runAPI(t, dead, testEnv, "", a.as(adminToken, "replay", "--all")...)
	wantCode(t, r, 0)
	if r.stdout != "replayed 1 dead message\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	for _, id := range ids {
		a.wantState(t, id, outbox.Pending)
	}

	r = runAPI(t, dead, testEnv, "", a.as(readToken, "replay", "--all")...)
	wantCode(t, r, 3)
	if r.stderr != "rebound dead replay: 403 Forbidden: This route needs an admin token.\n" {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestDeadDiscardDeletesOnlyDeadMessages(t *testing.T) {
	a := newRelayAPI(t)
	ids := a.deadMessages(t, "d")
	pending := a.enqueued(t, "d")

	r := runAPI(t, dead, testEnv, "", a.as(adminToken, "discard", ids[0])...)
	wantCode(t, r, 0)
	if r.stdout != "discarded "+ids[0]+"\n" || r.stderr != "" {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
	if _, err := a.be.Outbox.Get(t.Context(), ids[0]); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("Get after discard: %v, want ErrNotFound", err)
	}

	r = runAPI(t, dead, testEnv, "", a.as(adminToken, "discard", pending)...)
	wantCode(t, r, 3)
	if want := "rebound dead discard: " + pending + ": 409 Message is not dead (field id): Only dead messages can be replayed or discarded.\n"; r.stderr != want || r.stdout != "" {
		t.Errorf("stdout %q, stderr:\n%s\nwant nothing and:\n%s", r.stdout, r.stderr, want)
	}
	a.wantState(t, pending, outbox.Pending)
}

func TestDeadUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "rebound dead: missing a subcommand"},
		{[]string{"show"}, `rebound dead: unknown subcommand "show"`},
		{[]string{"list", "extra"}, `rebound dead list: unexpected argument "extra"`},
		{[]string{"list", "--limit", "0"}, "rebound dead list: invalid value \"0\" for flag --limit"},
		{[]string{"replay"}, "rebound dead replay: missing what to replay"},
		{[]string{"replay", "--all", "id-1"}, "rebound dead replay: give IDs, or --all, or --destination, not several"},
		{[]string{"replay", "--all", "--destination", "d"}, "rebound dead replay: give --all or --destination, not both"},
		{[]string{"discard"}, "rebound dead discard: missing the IDs"},
		{[]string{"discard", "id-1", "--server", "localhost:8080"}, "rebound dead discard: --server: bad URL"},
	} {
		r := runAPI(t, dead, testEnv, "", tc.args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, tc.want) || !strings.Contains(r.stderr, "usage: rebound dead") {
			t.Errorf("%q: exit %d, stderr:\n%s\nwant 2, %q and the usage", tc.args, r.code, r.stderr, tc.want)
		}
	}
	for _, args := range [][]string{{"-h"}, {"help"}, {"list", "-h"}, {"replay", "--help"}} {
		r := runAPI(t, dead, testEnv, "", args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "usage: rebound dead") {
			t.Errorf("%q: exit %d, stdout %q; want 0 and the usage", args, r.code, r.stdout)
		}
	}
}

func TestTruncateAndOneLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven char", 10, "eleven ch…"},
		{"héllo wörld", 6, "héllo…"},
	} {
		if got := truncate(tc.in, tc.n); got != tc.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
	if got := oneLine("a\tb\r\nc\x7f"); got != "a b  c " {
		t.Errorf("oneLine = %q", got)
	}
}
