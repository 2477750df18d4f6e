package engine

import "github.com/wxbot/wxbot/engine/store"

// The engine's state lives outside it, behind engine/store's contract
// (memory, bbolt, Redis). Each user of it takes only the small interface it
// needs, the way database/sql/driver composes optional interfaces; the
// interfaces are declared once, in engine/store, and named here for the
// engine's users.
type (
	// Cooldowns keep rules' `cooldown:` per user (store.Cooldowns).
	Cooldowns = store.Cooldowns
	// Claims remember that something happened once, durably (store.Claims).
	Claims = store.Claims
	// KefuWindows keep each user's kefu window (store.KefuWindows).
	KefuWindows = store.KefuWindows
	// WindowKnower tells an unknown kefu window from one that is over
	// (store.WindowKnower).
	WindowKnower = store.WindowKnower
	// Users keep each user's state (store.Users).
	Users = store.Users
	// State is what the engine itself keeps per user while it dispatches
	// (store.State).
	State = store.State
)
