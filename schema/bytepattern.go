package schema

import "regexp/syntax"

// bytePattern is a pattern of the simple form ^(class{min,max})*$ over
// ASCII classes, matched without regexp: a sequence of items, each a set of
// ASCII bytes taken between min and max times (max -1: unbounded).
// compileBytePattern only builds one when taking each item greedily is
// the only way to match (see there), so it answers exactly as regexp.
type bytePattern struct {
	items []patternItem
}

type patternItem struct {
	set      [2]uint64 // bytes 0..127
	min, max int
}

func (it *patternItem) has(b byte) bool { return b < 128 && it.set[b>>6]&(1<<(b&63)) != 0 }

// compileBytePattern returns the bytePattern for expr, a regular expression
// as regexp.Compile reads it, or nil when expr is not of that simple form:
// anchored at both ends by ^ and $, a concatenation of ASCII literals and
// ASCII classes, each possibly repeated ({m,n}, *, +, ?), no groups, no
// alternation, no case folding, and every repeated item's set disjoint from
// the sets of the items after it up to and including the first that must
// appear. The last rule makes the greedy match the only possible one: a
// byte an item leaves could be taken by no later item that may come next.
func compileBytePattern(expr string) *bytePattern {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil || re.Op != syntax.OpConcat || len(re.Sub) < 2 ||
		re.Sub[0].Op != syntax.OpBeginText || re.Sub[len(re.Sub)-1].Op != syntax.OpEndText {
		return nil
	}
	var items []patternItem
	for _, sub := range re.Sub[1 : len(re.Sub)-1] {
		if sub.Flags&syntax.FoldCase != 0 {
			return nil
		}
		lo, hi := 1, 1
		switch sub.Op {
		case syntax.OpLiteral:
			for _, r := range sub.Rune {
				it, ok := asciiItem(&syntax.Regexp{Op: syntax.OpLiteral, Rune: []rune{r}})
				if !ok {
					return nil
				}
				items = append(items, it)
			}
			continue
		case syntax.OpCharClass:
		case syntax.OpRepeat:
			lo, hi = sub.Min, sub.Max
		case syntax.OpStar:
			lo, hi = 0, -1
		case syntax.OpPlus:
			lo, hi = 1, -1
		case syntax.OpQuest:
			lo, hi = 0, 1
		default:
			return nil
		}
		one := sub
		if sub.Op != syntax.OpCharClass {
			if len(sub.Sub) != 1 || sub.Sub[0].Flags&syntax.FoldCase != 0 {
				return nil
			}
			one = sub.Sub[0]
		}
		it, ok := asciiItem(one)
		if !ok {
			return nil
		}
		it.min, it.max = lo, hi
		items = append(items, it)
	}
	for i, it := range items {
		if it.min == it.max {
			continue
		}
		for _, next := range items[i+1:] {
			if it.set[0]&next.set[0] != 0 || it.set[1]&next.set[1] != 0 {
				return nil
			}
			if next.min > 0 {
				break
			}
		}
	}
	return &bytePattern{items: items}
}

// asciiItem returns the item matching re once: a one-rune literal or a
// class, ASCII only.
func asciiItem(re *syntax.Regexp) (patternItem, bool) {
	it := patternItem{min: 1, max: 1}
	var ranges []rune
	switch {
	case re.Op == syntax.OpLiteral && len(re.Rune) == 1 && re.Flags&syntax.FoldCase == 0:
		ranges = []rune{re.Rune[0], re.Rune[0]}
	case re.Op == syntax.OpCharClass:
		ranges = re.Rune
	default:
		return it, false
	}
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i] < 0 || ranges[i+1] > 127 {
			return it, false
		}
		for r := ranges[i]; r <= ranges[i+1]; r++ {
			it.set[r>>6] |= 1 << (r & 63)
		}
	}
	return it, true
}

// match reports whether s matches the pattern.
func (p *bytePattern) match(s string) bool {
	pos := 0
	for i := range p.items {
		it := &p.items[i]
		n := 0
		for (it.max < 0 || n < it.max) && pos < len(s) && it.has(s[pos]) {
			pos++
			n++
		}
		if n < it.min {
			return false
		}
	}
	return pos == len(s)
}
