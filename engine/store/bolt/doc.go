// Package bolt is the embedded store (bolt:PATH): one bbolt file for one
// machine, one process at a time (the file is locked).
//
// Outbox writes are committed and fsynced before they return, concurrent
// ones sharing a commit (bbolt's Batch); kefu windows and cooldowns are
// kept in memory and written behind every half second; retries' answers
// and the replay window's query strings go to append-only files beside
// the bbolt file, bounded by the memories' budgets and read back at
// start a record at a time, only while valid. A
// file whose last shutdown was not clean is checked whole before it opens,
// and a damaged one is refused with what to do.
//
// Several Official Accounts share one file through account views
// ([Bolt.Account]): each account's buckets live in a bucket of its own.
// [Open] is the bolt: driver of engine/store.
package bolt
