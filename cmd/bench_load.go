package cmd

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxbot/wxbot/engine/wechat"
)

// measure runs the load against one target: warm-up, then the measured
// window, reading the server's CPU time around it.
func measure(ctx context.Context, name, target string, pid int, kinds []string, cipher *wechat.Cipher, f *benchFlags, checkReplies bool) (benchResult, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: f.concurrency, MaxIdleConnsPerHost: f.concurrency, DisableCompression: true}}
	defer client.CloseIdleConnections()
	l := &benchLoad{ctx: ctx, name: name, target: target, kinds: kinds, cipher: cipher, f: f, checkReplies: checkReplies,
		client: client, runBase: time.Now().UnixMicro()}
	if f.warmup > 0 {
		l.run(f.warmup, false)
	}
	cpu0, cpuOK := processCPU(pid)
	// RSS is sampled during the measured window: the process's all-time peak
	// (VmHWM) would count start-up, e.g. parsing a large rules file.
	peakRSS := sampleRSS(pid)
	start := time.Now()
	res := l.run(f.duration, true)
	res.elapsed = time.Since(start)
	peak := peakRSS()
	if cpu1, ok := processCPU(pid); ok && cpuOK {
		res.cpu = cpu1 - cpu0
	}
	res.peakRSS = peak
	if res.requests == 0 {
		return res, fmt.Errorf("%s: no request succeeded (%d errors): is %s a wxbot with token %q?", name, res.errors, target, f.token)
	}
	return res, nil
}

// benchLoad is the load on one target. The warm-up and the measured window
// share it, so that their pushes share one MsgId sequence: none of them is
// a retry to the bot's dedup.
type benchLoad struct {
	ctx          context.Context
	name, target string
	kinds        []string
	cipher       *wechat.Cipher
	f            *benchFlags
	checkReplies bool
	client       *http.Client
	seq          atomic.Int64
	runBase      int64 // MsgIds differ between runs too
}

// run keeps f.concurrency pushes in flight for d. Latencies are recorded
// only when asked, so that the warm-up's do not count.
func (l *benchLoad) run(d time.Duration, record bool) benchResult {
	res := benchResult{name: l.name}
	var mu sync.Mutex
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for w := 0; w < l.f.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := l.worker(stop, record)
			mu.Lock()
			res.requests += p.requests
			res.errors += p.errors
			res.badReply += p.badReply
			if res.firstBad == "" {
				res.firstBad = p.firstBad
			}
			res.latencies = append(res.latencies, p.latencies...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return res
}

// worker sends pushes one after the other until stop and counts them on
// its own: the workers take the lock once, at the end, not per push.
func (l *benchLoad) worker(stop time.Time, record bool) benchResult {
	var p benchResult
	for i := 0; time.Now().Before(stop) && l.ctx.Err() == nil; i++ {
		id := l.seq.Add(1)
		kind := l.kinds[int(id)%len(l.kinds)]
		body, took, ok := l.push(kind, id)
		if !ok {
			p.errors++
			continue
		}
		p.requests++
		if record {
			p.latencies = append(p.latencies, took)
		}
		if l.checkReplies && i%64 == 0 {
			if why := replyProblem(body, kind, l.f.token, l.cipher); why != "" {
				p.badReply++
				if p.firstBad == "" {
					p.firstBad = fmt.Sprintf("push %d (%s): %s", id, kind, why)
				}
			}
		}
	}
	return p
}

// push sends one push and reads the whole reply, timing the round trip;
// a push that fails in any way is an error to count, not to retry.
func (l *benchLoad) push(kind string, id int64) (body []byte, took time.Duration, ok bool) {
	req, err := benchPush(l.target, l.f.token, l.cipher, kind, id, l.runBase)
	if err != nil {
		return nil, 0, false
	}
	t0 := time.Now()
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, 0, false
	}
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	took = time.Since(t0)
	if err != nil || resp.StatusCode != 200 {
		return nil, 0, false
	}
	return body, took, true
}

// sampleRSS samples the process's RSS every 100ms until the function it
// returns is called, which gives the largest seen: a window's peak, which
// /proc does not keep.
func sampleRSS(pid int) (stop func() int64) {
	var peak atomic.Int64
	stopRSS := make(chan struct{})
	rssDone := make(chan struct{})
	go func() {
		defer close(rssDone)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if r := processRSS(pid); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stopRSS:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(stopRSS)
		<-rssDone
		return peak.Load()
	}
}
