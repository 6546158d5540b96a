// Command mtls-probe checks that the test world's real workloads keep mTLS while their CA changes: every interval
// (100 ms) each ready workload handshakes with the next one in a ring (sorted by namespace/pod), the client
// presenting its current leaf + chain and trusting its current root bundle, the server doing the same, both read
// from the files pilot-agent wrote (OUTPUT_CERTS) at every handshake, as Envoy gets them over SDS. Each side
// verifies the peer's chain against its own roots and the peer's SPIFFE URI SAN
// (spiffe://<trust domain>/ns/<namespace>/sa/<service account>).
//
// Workloads are found under --pods: cmd/sidecar-kubelet writes <pods>/<namespace>/<pod>/ready.json once the
// pod's agent reports ready and removes it first when the pod goes. Every failed handshake is appended to
// --failures (JSON lines: time, client, server, error); totals are rewritten to --out every second and printed
// to stdout on SIGTERM/SIGINT as one JSON object. SIGHUP starts counting again from zero.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

func main() {
	pods := flag.String("pods", "", "the sidecar-kubelet's pods directory (required)")
	interval := flag.Duration("interval", 100*time.Millisecond, "time between two rounds of the ring")
	out := flag.String("out", "", "totals JSON, rewritten every second (optional)")
	failures := flag.String("failures", "", "every failed handshake as a JSON line (optional)")
	trustDomain := flag.String("trust-domain", "cluster.local", "trust domain of the expected SPIFFE IDs")
	flag.Parse()
	if *pods == "" {
		fmt.Fprintln(os.Stderr, "mtls-probe: --pods is required")
		os.Exit(2)
	}
	var failLog *os.File
	if *failures != "" {
		f, err := os.OpenFile(*failures, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintf(os.Stderr, "mtls-probe: %v\n", err)
			os.Exit(1)
		}
		failLog = f
	}
	p := &probe{podsDir: *pods, trustDomain: *trustDomain, failLog: failLog, started: time.Now()}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	flush := time.NewTicker(time.Second)
	defer flush.Stop()
	rounds := make(chan struct{}, 1)
	go func() {
		for range rounds {
			p.round()
		}
	}()
	for {
		select {
		case <-tick.C:
			select {
			case rounds <- struct{}{}:
			default:
				p.skipped() // the previous round still runs: say so rather than pretend
			}
		case <-flush.C:
			writeTotals(*out, p.totals())
		case <-hup:
			p.reset()
			writeTotals(*out, p.totals())
		case <-stop:
			t := p.totals()
			writeTotals(*out, t)
			b, _ := json.Marshal(t)
			fmt.Println(string(b))
			return
		}
	}
}

// writeTotals replaces path atomically, so a reader never sees half an object.
func writeTotals(path string, t totals) {
	if path == "" {
		return
	}
	b, _ := json.MarshalIndent(t, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err == nil {
		_ = os.Rename(tmp, path)
	}
}

type failure struct {
	Time   time.Time `json:"time"`
	Client string    `json:"client"`
	Server string    `json:"server"`
	Error  string    `json:"error"`
}

type totals struct {
	Handshakes          int64      `json:"handshakes"`
	Failures            int64      `json:"failures"`
	FirstFailure        *failure   `json:"firstFailure"`
	LastFailure         *failure   `json:"lastFailure"`
	FailingSeconds      float64    `json:"failingSeconds"`
	Workloads           int        `json:"workloads"`
	Rounds              int64      `json:"rounds"`
	SkippedRounds       int64      `json:"skippedRounds"`
	StartedAt           time.Time  `json:"startedAt"`
	UpdatedAt           time.Time  `json:"updatedAt"`
	HandshakesPerSecond float64    `json:"handshakesPerSecond"`
	ByError             []errCount `json:"byError"`
}

type errCount struct {
	Error string `json:"error"`
	Count int64  `json:"count"`
}

type probe struct {
	podsDir     string
	trustDomain string
	failLog     *os.File
	started     time.Time

	mu         sync.Mutex
	handshakes int64
	failures   int64
	first      *failure
	last       *failure
	workloads  int
	rounds     int64
	skips      int64
	byError    map[string]int64
}

// reset starts counting again from zero (SIGHUP); --failures keeps every line.
func (p *probe) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.handshakes, p.failures, p.first, p.last, p.rounds, p.skips, p.byError = 0, 0, nil, nil, 0, 0, nil
	p.started = time.Now()
}

func (p *probe) skipped() {
	p.mu.Lock()
	p.skips++
	p.mu.Unlock()
}

func (p *probe) record(f *failure) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.handshakes++
	if f == nil {
		return
	}
	p.failures++
	if p.first == nil {
		p.first = f
	}
	p.last = f
	if p.byError == nil {
		p.byError = map[string]int64{}
	}
	p.byError[f.Error]++
	if p.failLog != nil {
		b, _ := json.Marshal(f)
		_, _ = p.failLog.Write(append(b, '\n'))
	}
}

func (p *probe) totals() totals {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	t := totals{
		Handshakes: p.handshakes, Failures: p.failures, FirstFailure: p.first, LastFailure: p.last,
		Workloads: p.workloads, Rounds: p.rounds, SkippedRounds: p.skips, StartedAt: p.started, UpdatedAt: now,
		ByError: []errCount{},
	}
	if s := now.Sub(p.started).Seconds(); s > 0 {
		t.HandshakesPerSecond = float64(p.handshakes) / s
	}
	if p.first != nil {
		t.FailingSeconds = p.last.Time.Sub(p.first.Time).Seconds()
	}
	for e, n := range p.byError {
		t.ByError = append(t.ByError, errCount{e, n})
	}
	return t
}

// round handshakes once along the ring of the workloads ready now.
func (p *probe) round() {
	ring := readyWorkloads(p.podsDir)
	p.mu.Lock()
	p.workloads = len(ring)
	p.rounds++
	p.mu.Unlock()
	if len(ring) < 2 {
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range ring {
		client, server := ring[i], ring[(i+1)%len(ring)]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err, gone := handshake(client, server, p.trustDomain)
			if gone {
				return // a pod went away between listing and reading its files: no handshake happened
			}
			if err == nil {
				p.record(nil)
				return
			}
			p.record(&failure{Time: time.Now().UTC(), Client: client.id(), Server: server.id(), Error: err.Error()})
		}()
	}
	wg.Wait()
}

// readyWorkloads lists <pods>/<namespace>/<pod>/ready.json, sorted by namespace/pod (filepath.Glob sorts).
func readyWorkloads(podsDir string) []workload {
	paths, _ := filepath.Glob(filepath.Join(podsDir, "*", "*", "ready.json"))
	ring := make([]workload, 0, len(paths))
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var w workload
		if json.Unmarshal(b, &w) != nil || w.Namespace == "" || w.Pod == "" {
			continue
		}
		w.dir = filepath.Dir(path)
		ring = append(ring, w)
	}
	return ring
}
