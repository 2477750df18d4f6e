package memory_test

import (
	"testing"

	"github.com/wxbot/wxbot/engine/store"
	"github.com/wxbot/wxbot/engine/store/memory"
	"github.com/wxbot/wxbot/engine/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, storetest.Opener{
		Open: func(t *testing.T, clock *storetest.Clock) store.Store { return memory.New(clock.Now) },
	})
}
