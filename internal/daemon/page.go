package daemon

import (
	"log/slog"
	"net/http"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/auth"
	"github.com/rebound-go/rebound/internal/config"
	"github.com/rebound-go/rebound/internal/statuspage"
)

func statusPage(cfg *config.Config, be *Backend, breakers *rebound.Breakers, activity *statuspage.Activity, tokens *auth.Tokens, log *slog.Logger) (http.Handler, error) {
	return statuspage.New(statuspage.Config{
		Store:        be.Outbox,
		Activity:     activity,
		Breakers:     breakers,
		Destinations: cfg.DestinationNames(),
		Tokens:       tokens,
		ShowPayloads: cfg.Page.ShowPayloads,
		Logger:       log,
	})
}
