// Package memory is the store that keeps everything in process memory:
// for tests, for offline runs (check, test, explain, the console's Try
// it) and as the fallback a guarded shared store degrades to. Nothing
// survives a restart.
//
// It implements every interface of engine/store and imports no driver, so
// the engine can take it as its default.
package memory
