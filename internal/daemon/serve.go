package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rebound-go/rebound/internal/config"
)

// serve runs a built relay until ctx ends, its HTTP server fails, or its
// store fails in a way that cannot heal: it opens the listeners, starts
// the reaper and the HTTP servers, reaches and migrates the store while
// serving (startWhenReady), and then stops everything it started (see the
// package doc's Startup and Shutdown).
func (d *relayd) serve(ctx context.Context) error {
	ln, pprofLn, err := d.listen()
	if err != nil {
		return err
	}
	if err := d.reaper.Start(ctx); err != nil {
		ln.Close()
		if pprofLn != nil {
			pprofLn.Close()
		}
		return err
	}
	srv := d.startServers(ln, pprofLn)
	addr := ln.Addr().String()
	kind := d.be.Kind
	d.log.Info("rebound relay started", "listen", addr, "store", kind, "destinations", len(d.cfg.Destinations), "auth", d.tokens.Len() > 0, "version", d.opts.Version)
	if d.opts.Serving != nil {
		d.opts.Serving(addr)
	}

	// The listener is open: reach and migrate the store, waiting while it
	// cannot answer yet, then deliver.
	waitCtx, stopWaiting := context.WithCancelCause(ctx)
	defer stopWaiting(nil)
	storeErr := make(chan error, 1)
	var waiter sync.WaitGroup
	waiter.Go(func() {
		storeErr <- startWhenReady(waitCtx, ctx, d.be, d.relay, d.ready, d.storeObs, d.log, func() {
			if d.opts.Listening != nil {
				d.opts.Listening(addr)
			}
		})
	})

	// Read the brokers' side of the configuration (a NATS stream's
	// duplicate window) once each answers.
	waiter.Go(func() { checkBrokers(waitCtx, d.brokers, 5*time.Second, d.log) })

	runErr := d.await(ctx, srv.errs, storeErr)
	stopWaiting(errStopping)
	waiter.Wait() // the relay is started, or will not be; the checks are done
	d.shutdown(ctx, srv)
	return runErr
}

// listen opens the API's listener and, when cfg.Pprof is set, pprof's.
// Their errors name the key.
func (d *relayd) listen() (ln, pprofLn net.Listener, err error) {
	ln, err = net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return nil, nil, &config.Error{Key: "listen", Want: "want an address this process can listen on: " + err.Error()}
	}
	if d.pprof != nil {
		if pprofLn, err = net.Listen("tcp", d.cfg.Pprof); err != nil {
			ln.Close()
			return nil, nil, &config.Error{Key: "pprof", Want: "want an address this process can listen on: " + err.Error()}
		}
	}
	return ln, pprofLn, nil
}

// servers are the relay's running HTTP servers.
type servers struct {
	list []*http.Server
	wg   sync.WaitGroup
	errs chan error // a server that failed other than by Shutdown
}

// startServers serves d.handler on ln and pprof on pprofLn (when not nil),
// each in a goroutine that servers.shutdown waits for.
func (d *relayd) startServers(ln, pprofLn net.Listener) *servers {
	s := &servers{errs: make(chan error, 2)}
	serve := func(srv *http.Server, l net.Listener) {
		s.list = append(s.list, srv)
		s.wg.Go(func() {
			if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				s.errs <- err
			}
		})
	}
	serve(&http.Server{
		Handler:           d.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}, ln)
	if pprofLn != nil {
		serve(&http.Server{Handler: d.pprof, ReadHeaderTimeout: 10 * time.Second}, pprofLn)
	}
	return s
}

// shutdown drains the servers, for at most ctx, and waits for their
// goroutines.
func (s *servers) shutdown(ctx context.Context) {
	for _, srv := range s.list {
		_ = srv.Shutdown(ctx)
	}
	s.wg.Wait()
}

// await returns when ctx ends (nil), when an HTTP server fails, or when
// the store fails in a way that cannot heal (that error); the store
// becoming ready and the relay delivering is no reason to return.
func (d *relayd) await(ctx context.Context, serveErr <-chan error, storeErr <-chan error) error {
	for {
		select {
		case <-ctx.Done():
			d.log.Info("rebound relay stopping: finishing in-flight deliveries")
			return nil
		case err := <-serveErr:
			d.log.Error("rebound relay: the HTTP server failed", "error", err.Error())
			return err
		case err := <-storeErr:
			if err != nil {
				return err // a store that cannot heal: the caller says why
			}
			storeErr = nil // ready and delivering
		}
	}
}

// shutdown stops the relay, within Options.ShutdownTimeout, and the
// reaper, then drains the HTTP servers within 5 s.
func (d *relayd) shutdown(ctx context.Context, srv *servers) {
	grace := d.opts.ShutdownTimeout
	if grace <= 0 {
		grace = ShutdownTimeout
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := d.relay.Stop(stopCtx); err != nil {
		d.log.Warn("rebound relay: stopping the relay", "error", err.Error())
	}
	_ = d.reaper.Stop(stopCtx)
	httpCtx, cancelHTTP := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancelHTTP()
	srv.shutdown(httpCtx)
	d.log.Info("rebound relay stopped")
}
