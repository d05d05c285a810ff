package node

import (
	"runtime"
	"sync"
)

// onCores calls fn(i) for each i in [0, n), spread over the cores: one
// goroutine per core (GOMAXPROCS, at most n), each taking every
// workers-th index. fn must touch only what belongs to index i.
func onCores(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
