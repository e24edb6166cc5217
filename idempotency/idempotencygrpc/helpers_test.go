package idempotencygrpc_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/idempotencygrpc"
	"github.com/rebound-go/rebound/idempotency/internal/token"
	"github.com/rebound-go/rebound/idempotency/postgres"
	"github.com/rebound-go/rebound/idempotency/redis"
	"github.com/rebound-go/rebound/idempotency/sqlite"
	"github.com/rebound-go/rebound/internal/pgtest"
	"github.com/rebound-go/rebound/internal/sqlitetest"
)

// service is grpc.testing.TestService whose UnaryCall counts its runs and
// answers with answer (default: the request's payload back, and the run's
// number as Hostname).
type service struct {
	testgrpc.UnimplementedTestServiceServer
	runs    atomic.Int64
	started chan struct{} // when set, each run sends on it first
	block   chan struct{} // when set, each run waits on it
	answer  func(run int64, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error)
}

func (s *service) UnaryCall(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	n := s.runs.Add(1)
	if s.started != nil {
		s.started <- struct{}{}
	}
	if s.block != nil {
		<-s.block
	}
	if s.answer != nil {
		return s.answer(n, req)
	}
	return &testgrpc.SimpleResponse{Payload: req.GetPayload(), Hostname: "run-" + strconv.FormatInt(n, 10)}, nil
}

// recoverPanics turns a handler's panic into INTERNAL, as a program's
// recovery interceptor would, so that a panicking handler does not crash
// the test binary. It runs before (outside) the idempotency interceptor.
func recoverPanics(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = status.Errorf(codes.Internal, "panic: %v", p)
		}
	}()
	return handler(ctx, req)
}

// serve starts a gRPC server over bufconn with the interceptor built from
// cfg (on a MemoryStore when cfg.Store is nil) and register's services,
// and returns a client connection to it. Both end with t.
func serve(t testing.TB, cfg idempotencygrpc.Config, register func(*grpc.Server)) *grpc.ClientConn {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store = &idempotency.MemoryStore{}
	}
	in, err := idempotencygrpc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(recoverPanics, in.Unary()))
	register(srv)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		<-served
	})
	return conn
}

// serveTest serves svc as grpc.testing.TestService and returns its client.
func serveTest(t testing.TB, cfg idempotencygrpc.Config, svc *service) testgrpc.TestServiceClient {
	t.Helper()
	conn := serve(t, cfg, func(s *grpc.Server) { testgrpc.RegisterTestServiceServer(s, svc) })
	return testgrpc.NewTestServiceClient(conn)
}

// withKey returns a context whose outgoing metadata carries key, then the
// other pairs given.
func withKey(key string, pairs ...string) context.Context {
	return metadata.NewOutgoingContext(context.Background(), metadata.Pairs(append([]string{"idempotency-key", key}, pairs...)...))
}

func request(body string) *testgrpc.SimpleRequest {
	return &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: []byte(body)}}
}

// newStoreFunc makes an empty store of one engine for a test.
type newStoreFunc func(t *testing.T) idempotency.Store

func memoryStore(*testing.T) idempotency.Store { return &idempotency.MemoryStore{} }

// sqliteStore opens a database file in t's temporary directory.
func sqliteStore(t *testing.T) idempotency.Store {
	s, err := sqlite.New(sqlitetest.Open(t), sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

const postgresPurpose = "run the gRPC interceptor's tests on the PostgreSQL store"

// postgresStore makes a store in a schema of t's own in the database named
// by REBOUND_TEST_POSTGRES, or skips t.
func postgresStore(t *testing.T) idempotency.Store {
	url := pgtest.URL(t, postgresPurpose)
	_, dsn := pgtest.Schema(t, url, "rebound_idemgrpc_test_")
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, err := postgres.New(pool, postgres.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// redisAddr returns the Redis address in REBOUND_TEST_REDIS, or skips tb.
func redisAddr(tb testing.TB) string {
	addr := os.Getenv("REBOUND_TEST_REDIS")
	if addr == "" {
		tb.Skip("REBOUND_TEST_REDIS is not set; set it to a Redis address such as 127.0.0.1:6379 to run the gRPC interceptor's tests on the Redis store")
	}
	return addr
}

// redisStore makes a store under a random prefix on the Redis named by
// REBOUND_TEST_REDIS, or skips t. Its keys expire with their TTL; the
// prefix's remaining keys are deleted when t ends.
func redisStore(t *testing.T) idempotency.Store {
	addr := redisAddr(t)
	client := goredis.NewClient(&goredis.Options{Addr: addr})
	ctx := context.Background()
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		t.Fatalf("REBOUND_TEST_REDIS=%s: %v", addr, err)
	}
	prefix := "rebound-test:" + token.New() + ":"
	t.Cleanup(func() {
		defer client.Close()
		iter := client.Scan(ctx, 0, prefix+"*", 100).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			_ = client.Del(ctx, keys...).Err()
		}
	})
	s, err := redis.New(client, redis.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
