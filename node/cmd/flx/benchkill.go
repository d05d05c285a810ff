package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/cputime"
	"github.com/familylinks/flx/node/fedadmin"
	"github.com/familylinks/flx/node/store"
)

// benchNode is one node of the bench exchange: in this process, or (the
// member --kill names) a child `flx serve` process that the bench kills
// with SIGKILL mid-run and starts again on the same database.
type benchNode struct {
	id  string
	cfg config.Config
	rn  *runningNode // in this process; nil for a child
	st  store.Store  // rn.Store, or the bench's own handle on the child's database

	// A child process: its command line and environment, the running
	// process, and its CPU time so far (read from /proc while it runs;
	// added up across restarts).
	exe, cfgFile string
	env          []string
	logFile      string
	child        *exec.Cmd
	exited       chan error // cmd.Wait's result, once the child ended
	childPID     int
	cpuDone      time.Duration // CPU of children already killed
	cpuLast      time.Duration // last sample of the running child
}

// kick wakes the delivery loop of an in-process node (a child polls).
func (b *benchNode) kick(to ...string) {
	if b.rn != nil {
		b.rn.Node.KickDelivery(to...)
	}
}

// childCPU is the CPU time the child processes used so far.
func (b *benchNode) childCPU() time.Duration {
	if b.childPID != 0 {
		if t, ok := cputime.OfProcess(b.childPID); ok {
			b.cpuLast = t
		}
	}
	return b.cpuDone + b.cpuLast
}

// startBenchChild starts member id as a child `flx serve` with the
// bench's settings as FLX_* overrides, and waits until its federation
// listener accepts connections.
func startBenchChild(ctx context.Context, fedDir, dir string, cfg config.Config) (*benchNode, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: --kill runs the node as a child process: %w", err)
	}
	b := &benchNode{id: cfg.Member, cfg: cfg, exe: exe,
		cfgFile: filepath.Join(fedadmin.MemberDir(fedDir, cfg.Member), fedadmin.MemberConfigFile),
		logFile: filepath.Join(dir, strings.ToLower(cfg.Member)+"-child.log")}
	b.env = append(os.Environ(),
		"FLX_STORE_DSN="+cfg.Store.DSN,
		"FLX_FEDERATION_LISTEN="+cfg.Federation.Listen,
		"FLX_LOCAL_API_LISTEN="+cfg.LocalAPI.Listen,
		"FLX_DELIVERY_WORKERS="+strconv.Itoa(cfg.Delivery.Workers),
		"FLX_DELIVERY_BATCH_SIZE="+strconv.Itoa(cfg.Delivery.BatchSize),
		"FLX_DELIVERY_POLL_INTERVAL="+cfg.Delivery.PollInterval.String(),
		"FLX_DELIVERY_BACKOFF_INITIAL="+cfg.Delivery.BackoffInitial.String(),
		"FLX_DELIVERY_BACKOFF_MAX="+cfg.Delivery.BackoffMax.String(),
		"FLX_DELIVERY_REQUEST_TIMEOUT="+cfg.Delivery.RequestTimeout.String(),
		"FLX_DELIVERY_LEASE="+cfg.Delivery.Lease.String(),
		"FLX_LOG_LEVEL=warn",
	)
	if err := b.start(ctx); err != nil {
		return nil, err
	}
	// Its reads (progress, checks) are not the node's work: their
	// backends are left out of the CPU figures (store.WatcherAppName).
	if b.st, err = store.Open(ctx, watcherDSN(cfg.Store.DSN)); err != nil {
		b.kill()
		return nil, err
	}
	return b, nil
}

// start runs the child and waits for its federation listener.
func (b *benchNode) start(ctx context.Context) error {
	logf, err := os.OpenFile(b.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(b.exe, "serve", "--config", b.cfgFile)
	cmd.Env, cmd.Stdout, cmd.Stderr = b.env, logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("bench: start %s: %w", b.id, err)
	}
	exited := make(chan error, 1)
	b.child, b.exited, b.childPID, b.cpuLast = cmd, exited, cmd.Process.Pid, 0
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", b.cfg.Federation.Listen, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-exited:
			exited <- err // for kill
			b.kill()
			return fmt.Errorf("bench: %s exited before listening (%v): %s", b.id, err, b.logTail())
		case <-ctx.Done():
			b.kill()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.kill()
			return fmt.Errorf("bench: %s not listening after a minute; see %s", b.id, b.logFile)
		}
	}
}

// logTail is the end of the child's log.
func (b *benchNode) logTail() string {
	l, _ := os.ReadFile(b.logFile)
	if len(l) > 800 {
		l = l[len(l)-800:]
	}
	return strings.TrimSpace(string(l))
}

// kill ends the child with SIGKILL (no shutdown of any kind) and waits
// for it to be gone.
func (b *benchNode) kill() {
	if b.child == nil {
		return
	}
	b.childCPU()
	_ = b.child.Process.Kill()
	<-b.exited
	b.cpuDone += b.cpuLast
	b.child, b.childPID, b.cpuLast = nil, 0, 0
}

// stop ends the node: an in-process one gracefully, a child by SIGKILL.
func (b *benchNode) stop() {
	if b.rn != nil {
		b.rn.Stop()
		b.rn.Wait()
		return
	}
	b.kill()
	if b.st != nil {
		b.st.Close()
	}
}

// parseKill reads --kill: "", "xa" or "xb" (or the member ids).
func parseKill(v string) (string, error) {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "":
		return "", nil
	case "XA", "XA-RC":
		return "XA-RC", nil
	case "XB", "XB-RC":
		return "XB-RC", nil
	}
	return "", fmt.Errorf("bench: --kill %q: xa (the sender) or xb (the receiver)", v)
}

// processedOnce counts the receiver's inbox.process audit entries (one is
// written in the transaction that processes an envelope) and the distinct
// cases they name: both equal to n when nothing was processed twice.
func processedOnce(ctx context.Context, st store.Store) (entries, cases int64, err error) {
	seen := map[string]bool{}
	var after int64
	for {
		rows, err := st.ListAudit(ctx, store.AuditFilter{Action: "inbox.process", AfterSeq: after, Limit: 1000})
		if err != nil {
			return 0, 0, err
		}
		for _, r := range rows {
			after = r.Seq
			entries++
			seen[r.Object] = true
		}
		if len(rows) < 1000 {
			return entries, int64(len(seen)), nil
		}
	}
}

// watcherDSN is dsn with the application_name of a watcher
// (store.WatcherAppName) when it is a PostgreSQL URL.
func watcherDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return dsn
	}
	q := u.Query()
	q.Set("application_name", store.WatcherAppName)
	u.RawQuery = q.Encode()
	return u.String()
}
