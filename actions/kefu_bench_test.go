package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	redisstore "github.com/wxbot/wxbot/engine/store/redis"

	"github.com/wxbot/wxbot/engine/outbox"
	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/bolt"
	"github.com/wxbot/wxbot/engine/wechat"
	"github.com/wxbot/wxbot/engine/wechat/wechattest"
)

// BenchmarkOutboxBolt measures a kefu send from enqueue to the fake API's
// answer, on the embedded store: b.N sends to 64 users, enqueued in bursts
// of 64 (as concurrent pushes would), delivered by 4 workers.
func BenchmarkOutboxBolt(b *testing.B) {
	st, err := bolt.OpenFile(filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	benchOutbox(b, st)
}

// BenchmarkOutboxRedis is the same on the Redis store (skipped without
// Redis at 127.0.0.1:6379).
func BenchmarkOutboxRedis(b *testing.B) {
	prefix := fmt.Sprintf("wxbot-bench-%d-%d:", os.Getpid(), time.Now().UnixNano())
	st, err := redisstore.Connect("redis://127.0.0.1:6379/0?prefix="+prefix, nil)
	if err != nil {
		b.Skipf("Redis at 127.0.0.1:6379 is not reachable: %v", err)
	}
	defer func() {
		ctx := context.Background()
		keys, _ := st.Client().Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			st.Client().Del(ctx, keys...)
		}
		st.Close()
	}()
	benchOutbox(b, st)
}

func benchOutbox(b *testing.B, st store.Store) {
	fake := wechattest.New("wxbench", "secret")
	defer fake.Close()
	client, _ := wechat.NewClient(wechat.ClientConfig{Base: fake.URL, AppID: "wxbench", Secret: "secret",
		HTTP: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}})
	delivered := make(chan struct{}, 1024)
	ob := outbox.New(st, outbox.Options{Workers: 4, Poll: 10 * time.Millisecond, Observer: countObserver(delivered)})
	ob.Register(outbox.KindKefu, &KefuDeliverer{Client: client, Store: st, Now: time.Now})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ob.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for u := 0; u < 64; u++ {
		st.OpenWindow(ctx, fmt.Sprintf("oUser%d", u), time.Now().Add(48*time.Hour))
	}
	payload := json.RawMessage(`{"msgtype":"text","text":{"content":"您的订单已发货"}}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 64 {
		burst := make([]*outbox.Send, 0, 64)
		for j := i; j < i+64 && j < b.N; j++ {
			burst = append(burst, &outbox.Send{ID: fmt.Sprint("bench/", j), Kind: outbox.KindKefu,
				OrderKey: fmt.Sprintf("oUser%d", j%64), Payload: payload})
		}
		if err := ob.Enqueue(ctx, burst...); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < b.N; i++ {
		<-delivered
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sends/s")
}

type countObserver chan struct{}

func (c countObserver) Delivered(*outbox.Send, time.Duration) { c <- struct{}{} }
func (c countObserver) Failed(*outbox.Send, error, bool)      {}
func (c countObserver) DeadLettered(s *outbox.Send, why string) {
	panic("dead letter in benchmark: " + why)
}
