package daemon

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/auth"
	"github.com/rebound-go/rebound/internal/config"
)

// hooks observes the relay's events for the status page.
type hooks struct{}

func newHooks() *hooks { return &hooks{} }

// Observe implements rebound.Observer.
func (h *hooks) Observe(ctx context.Context, e rebound.Event) {}

func statusPage(cfg *config.Config, be *Backend, breakers *rebound.Breakers, h *hooks, tokens *auth.Tokens, log *slog.Logger) (http.Handler, error) {
	return http.NotFoundHandler(), nil
}
