package engine

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"unicode/utf8"
)

// This file holds the literal index: an Aho–Corasick automaton per event
// type that finds, in one pass over a push's content, every `contains` and
// `prefix` literal of every rule (and the literal each `regex` requires), so
// that rules gated by text become candidates only when one of their literals
// occurs. The index only prunes: candidates still run Rule.Check.
//
// The automaton is written here rather than taken from a module: the few Go
// Aho–Corasick modules have no tagged releases, allocate per search, and
// none reports "this literal occurs at position 0" in the same pass, which
// `prefix` needs.

// acAutomaton is a byte-level Aho–Corasick automaton over literals, each
// literal carrying the rules (positions in RuleSet.ordered) it makes
// candidates: anywhere in the text (contains) or only at its start (prefix).
// State 0 is the root (the empty string). It is immutable once built.
type acAutomaton struct {
	root   [256]int32 // goto from the root, failures resolved (0: stay)
	edge   []int32    // edges of state s: edgeB/edgeTo[edge[s]:edge[s+1]], by byte
	edgeB  []byte
	edgeTo []int32
	fail   []int32 // longest proper suffix of s that is a state
	depth  []int32 // length of s's string
	// report is s if some contains literal ends at s, else report[fail[s]];
	// 0 ends the chain.
	report   []int32
	out      []int32 // contains rules of s: outRule[out[s]:out[s+1]]
	outRule  []int32
	pre      []int32 // prefix rules of s: preRule[pre[s]:pre[s+1]]
	preRule  []int32
	contains bool // some literal is a contains literal (else stop early)
}

// acBuilder collects literals for an acAutomaton.
type acBuilder struct {
	nodes []acNode
}

type acNode struct {
	edges    []acEdge
	contains []int32 // ascending rule positions
	prefix   []int32
}

type acEdge struct {
	b  byte
	to int32
}

func (b *acBuilder) empty() bool { return len(b.nodes) <= 1 }

func (b *acBuilder) insert(lit string) int32 {
	if len(b.nodes) == 0 {
		b.nodes = append(b.nodes, acNode{})
	}
	s := int32(0)
next:
	for i := 0; i < len(lit); i++ {
		c := lit[i]
		for _, e := range b.nodes[s].edges {
			if e.b == c {
				s = e.to
				continue next
			}
		}
		t := int32(len(b.nodes))
		b.nodes = append(b.nodes, acNode{})
		b.nodes[s].edges = append(b.nodes[s].edges, acEdge{c, t})
		s = t
	}
	return s
}

// addContains makes rule a candidate whenever lit (not empty) occurs.
// Rules must be added in ascending order.
func (b *acBuilder) addContains(lit string, rule int32) {
	n := &b.nodes[b.insert(lit)]
	if l := n.contains; len(l) == 0 || l[len(l)-1] != rule {
		n.contains = append(n.contains, rule)
	}
}

// addPrefix makes rule a candidate whenever the text starts with lit (not
// empty). Rules must be added in ascending order.
func (b *acBuilder) addPrefix(lit string, rule int32) {
	n := &b.nodes[b.insert(lit)]
	if l := n.prefix; len(l) == 0 || l[len(l)-1] != rule {
		n.prefix = append(n.prefix, rule)
	}
}

// build returns the automaton, or nil when no literal was added.
func (b *acBuilder) build() *acAutomaton {
	if b.empty() {
		return nil
	}
	n := len(b.nodes)
	a := &acAutomaton{
		edge:   make([]int32, n+1),
		fail:   make([]int32, n),
		depth:  make([]int32, n),
		report: make([]int32, n),
		out:    make([]int32, n+1),
		pre:    make([]int32, n+1),
	}
	for s := range b.nodes {
		nd := &b.nodes[s]
		slices.SortFunc(nd.edges, func(x, y acEdge) int { return int(x.b) - int(y.b) })
		a.edge[s] = int32(len(a.edgeB))
		for _, e := range nd.edges {
			a.edgeB = append(a.edgeB, e.b)
			a.edgeTo = append(a.edgeTo, e.to)
		}
		a.out[s] = int32(len(a.outRule))
		a.outRule = append(a.outRule, nd.contains...)
		a.pre[s] = int32(len(a.preRule))
		a.preRule = append(a.preRule, nd.prefix...)
		if len(nd.contains) > 0 {
			a.contains = true
		}
	}
	a.edge[n] = int32(len(a.edgeB))
	a.out[n] = int32(len(a.outRule))
	a.pre[n] = int32(len(a.preRule))
	for _, e := range b.nodes[0].edges {
		a.root[e.b] = e.to
	}
	// Breadth first, so a state's failure is done before its children's.
	queue := make([]int32, 0, n)
	for _, e := range b.nodes[0].edges {
		queue = append(queue, e.to)
		a.depth[e.to] = 1
	}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		if len(b.nodes[u].contains) > 0 {
			a.report[u] = u
		} else {
			a.report[u] = a.report[a.fail[u]]
		}
		for _, e := range b.nodes[u].edges {
			a.fail[e.to] = a.next(a.fail[u], e.b)
			a.depth[e.to] = a.depth[u] + 1
			queue = append(queue, e.to)
		}
	}
	b.nodes = nil
	return a
}

// step follows s's own edge on c, or returns -1.
func (a *acAutomaton) step(s int32, c byte) int32 {
	lo, hi := a.edge[s], a.edge[s+1]
	for lo < hi {
		m := int32(uint32(lo+hi) >> 1)
		switch b := a.edgeB[m]; {
		case b == c:
			return a.edgeTo[m]
		case b < c:
			lo = m + 1
		default:
			hi = m
		}
	}
	return -1
}

// next is the state after reading c in state s.
func (a *acAutomaton) next(s int32, c byte) int32 {
	for s != 0 {
		if t := a.step(s, c); t >= 0 {
			return t
		}
		s = a.fail[s]
	}
	return a.root[c]
}

// find appends to hits the rules of every literal found in text (possibly
// several times, unordered).
func (a *acAutomaton) find(text string, hits []int32) []int32 {
	s := int32(0)
	for j := 0; j < len(text); j++ {
		s = a.next(s, text[j])
		if a.depth[s] == int32(j+1) { // s's string is text[:j+1]
			if lo, hi := a.pre[s], a.pre[s+1]; lo < hi {
				hits = appendHits(hits, a.preRule[lo:hi])
			}
		} else if !a.contains {
			break // no prefix can match any more
		}
		for t := a.report[s]; t != 0; t = a.report[a.fail[t]] {
			hits = appendHits(hits, a.outRule[a.out[t]:a.out[t+1]])
		}
	}
	return hits
}

// appendHits appends add to hits, first compacting hits (sorted, without
// duplicates) when it is full, so a literal found again and again does not
// grow the buffer.
func appendHits(hits, add []int32) []int32 {
	if len(hits)+len(add) > cap(hits) {
		hits = sortDedupe(hits)
		if len(hits)+len(add) > cap(hits)/2 {
			grown := make([]int32, len(hits), 2*cap(hits)+len(add))
			copy(grown, hits)
			hits = grown
		}
	}
	return append(hits, add...)
}

// sortDedupe sorts xs ascending and removes duplicates, in place.
func sortDedupe(xs []int32) []int32 {
	slices.Sort(xs)
	return slices.Compact(xs)
}

// textPlan is how the index stands in for a rule's text gate.
type textPlan struct {
	prune bool     // the rule is a candidate only when one of these hits
	rawRe []string // for each regex, a literal every match contains (raw content)
}

// planText decides whether the text gate t can be decided by literals: it
// can when the gate is not empty, no contains or prefix literal is empty,
// and every regex requires a literal.
func planText(t *TextMatch) textPlan {
	if t.IsZero() {
		return textPlan{}
	}
	for _, s := range t.Contains {
		if s == "" {
			return textPlan{}
		}
	}
	for _, s := range t.Prefix {
		if s == "" {
			return textPlan{}
		}
	}
	p := textPlan{prune: true}
	for _, re := range t.Regex {
		lit := requiredLiteral(re)
		if lit == "" {
			return textPlan{}
		}
		p.rawRe = append(p.rawRe, lit)
	}
	return p
}

// requiredLiteral returns a string that occurs, byte for byte, in every
// string re matches, or "" when it finds none. It is conservative: it looks
// only at runs of case-sensitive literals that every match must contain
// (concatenations, captures, and repetitions of at least one), and picks the
// longest.
func requiredLiteral(re *regexp.Regexp) string {
	// Rules compile with regexp.Compile, so the syntax is Perl's.
	t, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return ""
	}
	return string(requiredRunes(t.Simplify()))
}

func requiredRunes(t *syntax.Regexp) []rune {
	switch t.Op {
	case syntax.OpLiteral:
		if exactLiteral(t) {
			return t.Rune
		}
	case syntax.OpCapture, syntax.OpPlus:
		return requiredRunes(t.Sub[0])
	case syntax.OpRepeat:
		if t.Min >= 1 {
			return requiredRunes(t.Sub[0])
		}
	case syntax.OpConcat:
		var best, run []rune
		keep := func(r []rune) {
			if utf8Len(r) > utf8Len(best) {
				best = r
			}
		}
		for _, sub := range t.Sub {
			if sub.Op == syntax.OpLiteral && exactLiteral(sub) {
				run = append(run, sub.Rune...)
				continue
			}
			keep(run)
			run = nil
			keep(requiredRunes(sub))
		}
		keep(run)
		return best
	}
	return nil
}

// exactLiteral reports whether a literal node matches exactly its own
// UTF-8 bytes: case-sensitive, and no rune that could stand for invalid
// UTF-8 in the input.
func exactLiteral(t *syntax.Regexp) bool {
	if t.Flags&syntax.FoldCase != 0 {
		return false
	}
	for _, r := range t.Rune {
		if r == utf8.RuneError || !utf8.ValidRune(r) {
			return false
		}
	}
	return true
}

func utf8Len(rs []rune) int {
	n := 0
	for _, r := range rs {
		n += utf8.RuneLen(r)
	}
	return n
}
