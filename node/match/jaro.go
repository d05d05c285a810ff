package match

import "github.com/xrash/smetrics"

// jaroWinkler is smetrics.JaroWinkler(a, b, 0.7, 4) without allocations,
// for the words of names (at most 64 bytes; longer words, which only a
// hostile document has, go to smetrics). TestJaroWinklerAgrees checks
// that both give the same value.
func jaroWinkler(a, b string) float64 {
	if a == b {
		if a == "" {
			return 1
		}
		return 1
	}
	la, lb := len(a), len(b)
	if la == 0 || lb == 0 {
		return 0
	}
	if la > 64 || lb > 64 {
		return smetrics.JaroWinkler(a, b, 0.7, 4)
	}
	window := max(la, lb)/2 - 1
	if window < 0 {
		window = 0
	}
	var ma, mb uint64
	matches := 0
	for i := 0; i < la; i++ {
		lo, hi := max(0, i-window), min(lb-1, i+window)
		c := a[i]
		for j := lo; j <= hi; j++ {
			if mb&(1<<j) == 0 && b[j] == c {
				ma |= 1 << i
				mb |= 1 << j
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	unaligned, j := 0, 0
	for i := 0; i < la; i++ {
		if ma&(1<<i) == 0 {
			continue
		}
		for mb&(1<<j) == 0 {
			j++
		}
		if a[i] != b[j] {
			unaligned++
		}
		j++
	}
	m := float64(matches)
	jaro := (m/float64(la) + m/float64(lb) + (m-float64(unaligned/2))/m) / 3
	if jaro <= 0.7 {
		return jaro
	}
	prefix := 0
	for prefix < 4 && prefix < la && prefix < lb && a[prefix] == b[prefix] {
		prefix++
	}
	return jaro + 0.1*float64(prefix)*(1-jaro)
}
